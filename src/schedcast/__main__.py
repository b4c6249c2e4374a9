from schedcast.cli import app

app()
