"""What the demo world contains: actor kinds, actions and scenes, with their words and their affordances.

Everything the generator, the caption grammar and binary selection know about the world is data in this file, so
the world can be read (and extended) in one place. Sprites are Noto Color Emoji glyphs (SIL OFL 1.1).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActorKind:
    """A kind of actor: one emoji sprite, the nouns and adjectives that truly describe it, where it may appear."""

    name: str
    glyph: str
    nouns: tuple[str, ...]
    adjectives: tuple[str, ...]
    scenes: tuple[str, ...]
    height: int            # sprite height in pixels in the near lane of a 224 px frame
    size_rank: int         # 1 small .. 4 big: who can carry whom, who can hide behind whom
    person: bool = False   # relative pronoun "who" instead of "that"
    airborne: bool = False  # drawn above the ground (birds, balloons)


@dataclass(frozen=True)
class Verb:
    """One way to say an action: third person, -ing form, and passive participle (None: no natural passive)."""

    third: str
    ing: str
    passive: str | None = None


@dataclass(frozen=True)
class Action:
    """An action with one participant (agent) or two (agent acts on patient), and who may take which role."""

    name: str
    arity: int
    verbs: tuple[Verb, ...]
    manners: tuple[str, ...]
    agents: frozenset[str]
    patients: frozenset[str] = frozenset()
    no_scenes: frozenset[str] = frozenset()
    patient_size: str = "any"  # "smaller": patient smaller than agent (carry); "bigger": patient bigger (hide behind)

    def allows(self, agent: str, patient: str | None, scene: str) -> bool:
        """Whether this action with these participants is a possible event of the world in this scene."""
        if agent not in self.agents or scene in self.no_scenes or scene not in KINDS[agent].scenes:
            return False
        if self.arity == 1:
            return patient is None
        if patient is None or patient == agent or patient not in self.patients or scene not in KINDS[patient].scenes:
            return False
        rank_a, rank_p = KINDS[agent].size_rank, KINDS[patient].size_rank
        if self.patient_size == "smaller":
            return rank_p < rank_a
        if self.patient_size == "bigger":
            return rank_p > rank_a
        return True


@dataclass(frozen=True)
class Scene:
    """A background: the phrases that place an event in it (every phrase names this scene and no other)."""

    name: str
    phrases: tuple[str, ...]


LAND = ("grass", "snow", "sand", "night", "road")
ALL_SCENES = ("grass", "snow", "sand", "water", "night", "road")

KINDS: dict[str, ActorKind] = {k.name: k for k in (
    ActorKind("runner", "🏃", ("runner", "jogger"), ("young", "sporty"), LAND, 72, 3, person=True),
    ActorKind("walker", "🚶", ("walker", "pedestrian", "hiker"), ("young", "tall"), LAND, 74, 3, person=True),
    ActorKind("cyclist", "🚴", ("cyclist", "bike rider", "biker"), ("young",), ("grass", "sand", "night", "road"),
              72, 3, person=True),
    ActorKind("gymnast", "🤸", ("gymnast", "acrobat"), ("young", "nimble"), ("grass", "snow", "sand", "night"),
              70, 3, person=True),
    ActorKind("swimmer", "🏊", ("swimmer",), ("young", "strong"), ("water",), 66, 3, person=True),
    ActorKind("dog", "🐕", ("dog", "puppy"), ("spotted", "cute", "little"), LAND, 62, 2),
    ActorKind("cat", "🐈", ("cat", "kitten"), ("orange", "ginger", "little"), LAND, 58, 1),
    ActorKind("horse", "🐎", ("horse", "pony"), ("brown", "big"), ("grass", "snow", "sand", "night"), 80, 4),
    ActorKind("rabbit", "🐇", ("rabbit", "bunny"), ("white", "fluffy"), ("grass", "snow", "night"), 56, 1),
    ActorKind("penguin", "🐧", ("penguin",), ("little", "black and white"), ("snow",), 62, 2),
    ActorKind("duck", "🦆", ("duck", "mallard"), ("little", "green headed"), ("grass", "water"), 56, 1),
    ActorKind("bird", "🐦", ("bird", "bluebird"), ("blue", "little"), ALL_SCENES, 46, 1, airborne=True),
    ActorKind("car", "🚗", ("car",), ("red", "small"), ("road",), 62, 4),
    ActorKind("sailboat", "⛵", ("sailboat", "boat"), ("little", "striped"), ("water",), 82, 4),
    ActorKind("ball", "⚽", ("ball", "soccer ball", "football"), ("black and white",), ALL_SCENES, 42, 1),
    ActorKind("balloon", "🎈", ("balloon",), ("red", "shiny"), ALL_SCENES, 56, 1, airborne=True),
)}

PERSONS = frozenset({"runner", "walker", "cyclist", "gymnast"})
ANIMALS = frozenset({"dog", "cat", "horse", "rabbit", "penguin", "duck"})
MOVERS = PERSONS | ANIMALS | {"swimmer", "bird", "car", "sailboat"}
EVERYONE = frozenset(KINDS)
NOT_IN_WATER = frozenset({"water"})

ACTIONS: dict[str, Action] = {a.name: a for a in (
    # two participants: agent acts on patient
    Action("chase", 2, (Verb("chases", "chasing", "chased"), Verb("runs after", "running after"),
                        Verb("pursues", "pursuing", "pursued")),
           ("quickly", "at full speed", "fast", "eagerly"), MOVERS, EVERYONE),
    Action("follow", 2, (Verb("follows", "following", "followed"), Verb("walks behind", "walking behind"),
                         Verb("trails", "trailing", "trailed"), Verb("tags along behind", "tagging along behind")),
           ("slowly", "closely", "quietly", "calmly"), MOVERS, EVERYONE - {"balloon"}),
    Action("push", 2, (Verb("pushes", "pushing", "pushed"), Verb("shoves", "shoving", "shoved"),
                       Verb("pushes along", "pushing along", "pushed along")),
           ("hard", "with effort", "slowly"), (PERSONS - {"cyclist", "gymnast"}) | ANIMALS | {"swimmer", "car"},
           frozenset({"ball", "car", "sailboat", "dog", "cat", "rabbit", "penguin", "duck", "runner", "walker",
                      "horse"})),
    Action("jump_over", 2, (Verb("jumps over", "jumping over", "jumped over"), Verb("leaps over", "leaping over",
                                                                                     "leapt over"),
                            Verb("hops over", "hopping over")),
           ("high", "easily", "in one big leap"), frozenset({"runner", "gymnast", "dog", "cat", "horse", "rabbit"}),
           PERSONS | ANIMALS | {"ball", "car"}, no_scenes=NOT_IN_WATER),
    Action("bump_into", 2, (Verb("bumps into", "bumping into"), Verb("crashes into", "crashing into"),
                            Verb("runs into", "running into"), Verb("collides with", "colliding with"),
                            Verb("hits", "hitting", "hit")),
           ("by accident", "hard", "head on"), PERSONS | ANIMALS | {"swimmer", "car", "sailboat", "ball"},
           PERSONS | ANIMALS | {"swimmer", "car", "sailboat", "ball"}),
    Action("circle_around", 2, (Verb("circles around", "circling around", "circled"),
                                Verb("runs around", "running around"), Verb("goes around", "going around"),
                                Verb("moves in circles around", "moving in circles around")),
           ("again and again", "in a big circle", "twice"), MOVERS, EVERYONE),
    Action("carry", 2, (Verb("carries", "carrying", "carried"), Verb("gives a ride to", "giving a ride to"),
                        Verb("transports", "transporting", "transported")),
           ("carefully", "proudly", "with ease"), frozenset({"runner", "walker", "dog", "horse", "car", "sailboat"}),
           (EVERYONE - {"cyclist", "gymnast", "swimmer", "car", "sailboat"}), patient_size="smaller"),
    Action("hide_behind", 2, (Verb("hides behind", "hiding behind"), Verb("takes cover behind", "taking cover behind"),
                              Verb("peeks out from behind", "peeking out from behind")),
           ("shyly", "quietly", "carefully"),
           frozenset({"runner", "walker", "gymnast", "swimmer", "dog", "cat", "rabbit", "penguin", "duck", "bird"}),
           frozenset({"horse", "car", "sailboat", "runner", "walker", "dog", "penguin"}), patient_size="bigger"),
    # one participant
    Action("spin", 1, (Verb("spins", "spinning"), Verb("turns around", "turning around"), Verb("rotates", "rotating"),
                       Verb("twirls", "twirling")),
           ("around and around", "in circles", "quickly"), EVERYONE),
    Action("grow", 1, (Verb("grows", "growing"), Verb("gets bigger", "getting bigger"),
                       Verb("grows larger", "growing larger"), Verb("becomes huge", "becoming huge")),
           ("slowly", "steadily", "little by little"), EVERYONE),
    Action("fall", 1, (Verb("falls", "falling"), Verb("falls over", "falling over"),
                       Verb("tumbles down", "tumbling down"), Verb("topples over", "toppling over")),
           ("suddenly", "to the ground", "all at once"), PERSONS | ANIMALS | {"bird", "ball", "balloon"},
           no_scenes=NOT_IN_WATER),
    Action("jump", 1, (Verb("jumps", "jumping"), Verb("hops", "hopping"), Verb("bounces", "bouncing"),
                       Verb("jumps up and down", "jumping up and down")),
           ("up and down", "happily", "again and again", "high"),
           frozenset({"runner", "walker", "gymnast", "dog", "cat", "horse", "rabbit", "penguin", "bird", "ball"}),
           no_scenes=NOT_IN_WATER),
    Action("sleep", 1, (Verb("sleeps", "sleeping"), Verb("takes a nap", "taking a nap"), Verb("naps", "napping"),
                        Verb("dozes", "dozing"), Verb("lies asleep", "lying asleep")),
           ("peacefully", "soundly", "quietly"), (PERSONS - {"cyclist"}) | ANIMALS | {"bird"},
           no_scenes=NOT_IN_WATER),
    Action("dance", 1, (Verb("dances", "dancing"), Verb("dances to music", "dancing to music"),
                        Verb("grooves", "grooving"), Verb("dances around", "dancing around")),
           ("happily", "to the music", "with joy"), (PERSONS - {"cyclist"}) | ANIMALS | {"bird"},
           no_scenes=NOT_IN_WATER),
)}

SCENES: dict[str, Scene] = {s.name: s for s in (
    Scene("grass", ("on the grass", "in a park", "in a grassy field", "on a green meadow", "on the lawn")),
    Scene("snow", ("in the snow", "on a snowy field", "in a snowy landscape", "on the snow")),
    Scene("sand", ("on the beach", "in the sand", "on a sandy beach", "in the desert")),
    Scene("water", ("in the water", "on a lake", "in the sea", "on the water")),
    Scene("night", ("at night", "under the stars", "in the dark", "on a starry night")),
    Scene("road", ("on the road", "on the street", "along a road", "on an asphalt road")),
)}

# Effect glyphs drawn beside actors so that an action shows in single frames (see docs/demo_world.md).
EFFECTS = {"speed": "💨", "impact": "💥", "sleep": "💤", "music": "🎵", "dizzy": "💫", "sweat": "💦",
           "tracks": "👣", "moon": "🌙"}
