from schedcast.cli import main

main()
