"""DrumNet dataset: offline MIDI sources -> rendered audio -> per-16th-step features + drum targets.

    python -m bandmate.data build [--out data_cache] [--seed 0] [--limit N]
"""

from bandmate.data.drums import N_VOICES, VOICE_NAMES, VOICE_NOTES
from bandmate.data.midi import MidiFile, Note, read_midi, write_midi

__all__ = ["MidiFile", "Note", "read_midi", "write_midi", "VOICE_NAMES", "VOICE_NOTES", "N_VOICES"]
