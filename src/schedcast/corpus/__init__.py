"""Programs schedcast runs: the model, and the built-in programs shipped with the package."""

from schedcast.corpus.program import Program, ProgramError, ProgramKind, builtin_programs, load_program

__all__ = ["Program", "ProgramError", "ProgramKind", "builtin_programs", "load_program"]
