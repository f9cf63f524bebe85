"""The engines' native DSP: ``bandmate._dsp`` (C++ in python_backend/native/, built in place by
``pip install -e .``). No numpy fallback: a missing build fails loudly at import."""

try:
    from bandmate._dsp import PartitionedConvolver, ResonanceAnalyzer
except ImportError as e:  # not built (fresh checkout) or built for another Python
    raise ImportError(
        "bandmate._dsp (the engines' native DSP) is not built or does not load: run `pip install -e .` "
        f"in the repository root (scripts/setup.sh does) ({e})"
    ) from e

__all__ = ["PartitionedConvolver", "ResonanceAnalyzer"]
