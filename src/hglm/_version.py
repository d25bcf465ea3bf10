"""The version of the library (``hglm.__version__``), importable from any module below
the package without importing the package itself."""

__version__ = "0.1.0"
