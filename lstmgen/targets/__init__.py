"""Back ends: each module turns an IR into source files through the shared Jinja environment
(:mod:`lstmgen.targets._jinja`) and provides ``render``/``generate`` with its own typed options
class (``c.CTarget``, ...)."""

__all__: list[str] = []
