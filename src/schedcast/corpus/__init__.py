"""Programs schedcast runs: the model, the built-in and hand-crafted programs, the
seeded generator, the real-world kernel importers and measured metadata (docs/corpus.md)."""

from schedcast.corpus.api import Corpus, CorpusSpec, select_corpus
from schedcast.corpus.catalog import ORIGINS, handcrafted_programs, programs_by_origin, select_programs
from schedcast.corpus.program import (
    Program,
    ProgramError,
    ProgramKind,
    builtin_programs,
    load_program,
    write_program,
)

__all__ = [
    "ORIGINS",
    "Corpus",
    "CorpusSpec",
    "Program",
    "ProgramError",
    "ProgramKind",
    "builtin_programs",
    "handcrafted_programs",
    "load_program",
    "programs_by_origin",
    "select_corpus",
    "select_programs",
    "write_program",
]
