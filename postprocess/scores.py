"""The scores of Wanflow's own background music: plain data the synthesiser
(:mod:`postprocess.synth`) renders. One piece per mood family; each is a loop (its last chord
leads back to its first), and its ``moods`` become its entry in the shipped index.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chord:
    """``bars`` long; ``root`` for the bass parts, ``voicing`` held by the chord parts, ``tones``
    (low to high) for the arpeggio parts."""

    bars: int
    root: str
    voicing: tuple[str, ...]
    tones: tuple[str, ...]


def chord(bars: int, root: str, voicing: str, tones: str) -> Chord:
    return Chord(bars, root, tuple(voicing.split()), tuple(tones.split()))


# One bar of a rhythm: (beat, which note, length in beats). "Which note" is the index into the
# chord's tones for an arpeggio, semitones above the root for a root part.
Bar = tuple[tuple[float, int, float], ...]


@dataclass(frozen=True)
class Part:
    """One instrument's line. ``follows``: ``"chord"`` holds the voicing through each chord,
    ``"tones"`` and ``"root"`` play ``rhythm`` (its bars in turn, round again). ``echo``
    sends it through the piece's echo."""

    voice: str
    follows: str
    gain_db: float
    rhythm: tuple[Bar, ...] = ()
    octave: int = 0
    pan: float = 0.0
    echo: bool = False


@dataclass(frozen=True)
class Piece:
    """A loop: its chords in order, the parts that play over them, and the room they play in.
    ``id``, ``title`` and ``moods`` become its index entry."""

    id: str
    title: str
    moods: tuple[str, ...]
    bpm: float
    beats_per_bar: int
    chords: tuple[Chord, ...]
    parts: tuple[Part, ...]
    reverb_s: float  # RT60
    reverb_wet: float
    echo_beats: float = 0.0
    echo_feedback: float = 0.0

    @property
    def bars(self) -> int:
        return sum(c.bars for c in self.chords)

    @property
    def duration_s(self) -> float:
        return self.bars * self.beats_per_bar * 60 / self.bpm

    @property
    def file(self) -> str:
        return f"{self.id}.ogg"


def _bars(*bars: Bar) -> tuple[Bar, ...]:
    return bars


def _even(beats: float, count: int, order: tuple[int, ...], length: float) -> Bar:
    """``count`` notes ``beats`` apart, taking chord tones in ``order`` (cycled)."""
    return tuple((i * beats, order[i % len(order)], length) for i in range(count))


PIECES = (
    Piece(
        id="still-water",
        title="Still Water 静水",
        moods=("calm", "平静", "舒缓"),
        bpm=60,
        beats_per_bar=4,
        chords=(
            chord(1, "D2", "F#3 A3 C#4 E4", "A4 C#5 E5 F#5"),
            chord(1, "B1", "F#3 A3 C#4 D4", "F#4 B4 C#5 D5"),
            chord(1, "G2", "F#3 A3 B3 D4", "B4 D5 F#5 A5"),
            chord(1, "A2", "E3 A3 B3 D4", "A4 B4 D5 E5"),
            chord(1, "F#2", "F#3 A3 C#4 E4", "A4 C#5 E5 F#5"),
            chord(1, "G2", "F#3 A3 B3 C#4", "B4 C#5 D5 F#5"),
            chord(1, "E2", "G3 B3 D4 F#4", "G4 B4 D5 F#5"),
            chord(1, "A1", "E3 G3 B3 D4", "G4 A4 D5 E5"),
        ),
        parts=(
            Part("pad", "chord", -6),
            Part("bass", "root", -12, _bars(((0, 0, 3.8),))),
            Part(
                "bell",
                "tones",
                -8,
                _bars(
                    _even(1, 4, (0, 2, 1, 3), 2.0),
                    ((0, 1, 2.0), (1, 3, 2.0), (2.5, 2, 1.5), (3, 0, 2.0)),
                ),
                pan=0.2,
            ),
        ),
        reverb_s=3.0,
        reverb_wet=0.35,
    ),
    Piece(
        id="morning-steps",
        title="Morning Steps 晨步",
        moods=("happy", "高兴", "playful", "俏皮", "inspiring", "surprised", "惊讶"),
        bpm=120,
        beats_per_bar=4,
        chords=(
            chord(2, "C2", "E3 G3 C4", "C4 E4 G4 C5 E5"),
            chord(2, "G1", "D3 G3 B3", "B3 D4 G4 B4 D5"),
            chord(2, "A1", "E3 G3 C4", "C4 E4 G4 A4 C5"),
            chord(2, "F1", "C3 F3 A3", "A3 C4 F4 A4 C5"),
            chord(2, "E2", "E3 G3 B3", "B3 E4 G4 B4 E5"),
            chord(2, "F1", "C3 F3 G3", "A3 C4 F4 G4 C5"),
            chord(2, "D2", "D3 F3 A3", "A3 D4 F4 A4 C5"),
            chord(2, "G1", "D3 F3 B3", "B3 D4 G4 B4 D5"),
        ),
        parts=(
            Part("pad", "chord", -14),
            Part(
                "bass",
                "root",
                -10,
                _bars(((0, 0, 0.8), (1.5, 0, 0.4), (2, 7, 0.8), (3, 12, 0.4), (3.5, 7, 0.4))),
            ),
            Part(
                "pluck",
                "tones",
                -8,
                _bars(
                    _even(0.5, 8, (0, 2, 1, 3, 2, 4, 3, 2), 0.6),
                    _even(0.5, 8, (1, 3, 2, 4, 3, 2, 1, 2), 0.6),
                ),
                pan=-0.25,
            ),
            Part(
                "bell",
                "tones",
                -15,
                _bars(((0, 4, 1.5), (2.5, 3, 1.0)), ((1, 2, 1.0), (3, 4, 1.0))),
                octave=1,
                pan=0.35,
            ),
        ),
        reverb_s=1.4,
        reverb_wet=0.2,
    ),
    Piece(
        id="starlit-mist",
        title="Starlit Mist 星雾",
        moods=("mysterious", "神秘", "dreamy", "梦幻"),
        bpm=64,
        beats_per_bar=4,
        chords=(
            chord(1, "A1", "E3 A3 B3 C4", "A4 B4 C5 E5"),
            chord(1, "F1", "E3 A3 B3 C4", "A4 B4 C5 E5"),
            chord(1, "D2", "F3 A3 C4 E4", "F4 A4 C5 E5"),
            chord(1, "E2", "D3 F3 A3 B3", "F4 A4 B4 D5"),
            chord(1, "A1", "E3 A3 B3 C4", "A4 B4 C5 E5"),
            chord(1, "Bb1", "D3 F3 A3 E4", "F4 A4 D5 E5"),
            chord(1, "G1", "D3 G3 A3 E4", "G4 A4 D5 E5"),
            chord(1, "E2", "D3 F3 G#3 B3", "G#4 B4 D5 F5"),
        ),
        parts=(
            Part("pad", "chord", -7),
            Part("tremolo", "tones", -24, _bars(((0, 3, 4.0),)), octave=1),
            Part("bass", "root", -13, _bars(((0, 0, 3.9),))),
            Part(
                "bell",
                "tones",
                -10,
                _bars(
                    ((0, 0, 1.5), (1.5, 2, 1.0), (2.5, 3, 1.5)),
                    ((0.5, 1, 1.0), (2, 3, 1.0), (3, 2, 1.0)),
                ),
                pan=-0.3,
                echo=True,
            ),
        ),
        reverb_s=4.0,
        reverb_wet=0.4,
        echo_beats=0.75,
        echo_feedback=0.45,
    ),
    Piece(
        id="stone-hall",
        title="Stone Hall 石殿",
        moods=("solemn", "庄严", "epic", "史诗"),
        bpm=60,
        beats_per_bar=4,
        chords=(
            chord(1, "D2", "D3 F3 A3 D4", ""),
            chord(1, "Bb1", "D3 F3 Bb3 D4", ""),
            chord(1, "F2", "C3 F3 A3 C4", ""),
            chord(1, "C2", "C3 E3 G3 C4", ""),
            chord(1, "G1", "D3 G3 Bb3 D4", ""),
            chord(1, "Bb1", "D3 F3 Bb3 F4", ""),
            chord(1, "A1", "D3 E3 A3 E4", ""),
            chord(1, "A1", "C#3 E3 A3 E4", ""),
        ),
        parts=(
            Part("organ", "chord", -6),
            Part("pad", "root", -12, _bars(((0, 24, 3.9),))),
            Part("bass", "root", -14, _bars(((0, 0, 3.9),))),
            Part(
                "drum",
                "root",
                -8,
                _bars(
                    ((0, 0, 2.0),),
                    (),
                    (),
                    (),
                    ((0, 0, 2.0),),
                    (),
                    ((0, 0, 2.0),),
                    ((0, 0, 1.0), (2, 0, 0.5), (2.5, 0, 0.5), (3, 0, 0.5), (3.5, 0, 0.5)),
                ),
                octave=1,
            ),
        ),
        reverb_s=3.5,
        reverb_wet=0.32,
    ),
    Piece(
        id="silver-river",
        title="Silver River 银河",
        moods=("romantic", "浪漫", "tender", "温柔"),
        bpm=90,
        beats_per_bar=3,
        chords=(
            chord(2, "F2", "A3 C4 E4", "F3 A3 C4 E4 A4"),
            chord(2, "A1", "G3 C4 E4", "E3 A3 C4 E4 G4"),
            chord(2, "Bb1", "A3 D4 F4", "F3 Bb3 D4 F4 A4"),
            chord(2, "C2", "G3 Bb3 D4 F4", "G3 Bb3 D4 F4 G4"),
            chord(2, "D2", "F3 A3 C4 E4", "F3 A3 C4 E4 A4"),
            chord(2, "G1", "Bb3 D4 F4 A4", "F3 Bb3 D4 F4 A4"),
            chord(2, "C2", "Bb3 D4 F4", "F3 Bb3 D4 F4 Bb4"),
            chord(2, "C2", "G3 Bb3 E4", "E3 G3 Bb3 C4 E4"),
        ),
        parts=(
            Part("pad", "chord", -9),
            Part("bass", "root", -12, _bars(((0, 0, 2.8),), ((0, 0, 1.8), (2, 7, 0.9)))),
            Part(
                "pluck",
                "tones",
                -8,
                _bars(
                    _even(0.5, 6, (0, 1, 2, 3, 4, 3), 1.2),
                    _even(0.5, 6, (2, 3, 4, 3, 2, 1), 1.2),
                ),
                pan=0.25,
            ),
        ),
        reverb_s=2.6,
        reverb_wet=0.32,
    ),
    Piece(
        id="undertow",
        title="Undertow 暗涌",
        moods=("tense", "紧张", "dark", "恐惧", "angry", "愤怒"),
        bpm=120,
        beats_per_bar=4,
        chords=(
            chord(4, "E2", "E3 G3 B3 F#4", "B4"),
            chord(4, "E2", "F3 A3 C4 E4", "C5"),
            chord(4, "E2", "G3 B3 E4 F#4", "B4"),
            chord(4, "E2", "D#3 F#3 A3 C4", "C5"),
        ),
        parts=(
            Part("pad", "chord", -10),
            Part("tremolo", "tones", -20, _bars(((0, 0, 8.0),), ())),
            Part(
                "bass",
                "root",
                -11,
                _bars(
                    _even(0.5, 8, (0, 0, 12, 0, 0, 1, 0, 3), 0.35),
                    _even(0.5, 8, (0, 0, 12, 0, 1, 0, 3, 1), 0.35),
                ),
            ),
            Part("drum", "root", -13, _bars(((0, 0, 0.5), (0.75, 0, 1.0)))),
        ),
        reverb_s=2.0,
        reverb_wet=0.25,
    ),
    Piece(
        id="falling-leaves",
        title="Falling Leaves 落叶",
        moods=("sad", "悲伤", "nostalgic", "怀旧"),
        bpm=64,
        beats_per_bar=4,
        chords=(
            chord(1, "A1", "A3 C4 E4", "A3 C4 E4 A4 B4"),
            chord(1, "F1", "A3 C4 E4", "F3 A3 C4 E4 A4"),
            chord(1, "C2", "G3 C4 E4", "G3 C4 E4 G4 C5"),
            chord(1, "B1", "G3 B3 D4", "G3 B3 D4 G4 B4"),
            chord(1, "A1", "A3 C4 E4", "A3 C4 E4 A4 C5"),
            chord(1, "D2", "A3 C4 F4", "F3 A3 C4 D4 F4"),
            chord(1, "E2", "A3 B3 E4", "E3 A3 B3 E4 A4"),
            chord(1, "E2", "G#3 B3 D4", "E3 G#3 B3 D4 E4"),
        ),
        parts=(
            Part("pad", "chord", -11),
            Part("bass", "root", -12, _bars(((0, 0, 3.9),))),
            Part(
                "bell",
                "tones",
                -7,
                _bars(
                    _even(0.5, 8, (0, 2, 1, 3, 2, 4, 3, 2), 1.0),
                    _even(0.5, 8, (0, 2, 3, 4, 3, 2, 1, 2), 1.0),
                ),
            ),
        ),
        reverb_s=2.8,
        reverb_wet=0.3,
    ),
)
