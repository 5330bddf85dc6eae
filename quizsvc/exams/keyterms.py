"""What a fill-in blank may be: a key term of the card, never a word that tests nothing.

A key term is the card's term, a glossary abbreviation or expansion, or a noun phrase of
one of the card's key points (not of an example: "Example: fraud detection" is no key
fact). A number is a key term only when the prompt asks for a number ("What is the maximum
recommended prediction_length?"); the "100" of "out of 100 features, maybe only 10 ..." is
an example. Function words, verbs such as "approaches" or "measures", adverbs and generic
nouns such as "detection" or "example" never are: a learner who knows the card may well
write another word there.

Without a part-of-speech tagger, a noun phrase is recognised by what it lacks: no stop word,
no word of :data:`VERBS` or :data:`GENERIC_WORDS` (alone), no adverb in -ly. The lists hold
the words this kind of deck uses; they are short on purpose, and adding a word is the fix
when a poor blank shows up in review.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from quizsvc.bank.model import Card
from quizsvc.exams.distractors import compact, mentions, term_forms

_STOP_WORD_LIST = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else etc even ever every few for from further get gets had has have having he her here
    hers him his how however i if in into is it its itself just less let like may me might more
    most much must my neither no nor not now of off often on once one only onto or other our
    out over own per rather same she should so some such than that the their them then there
    these they this those though through thus to too under until up upon us use used uses
    using very via was we were what when where whether which while who whom whose why will
    with within without would yes yet you your
    e g eg i e ie vs
"""
STOP_WORDS = frozenset(_STOP_WORD_LIST.split())


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Verbs of definitions and explanations, base forms (an "-s", "-es" or "-ed" ending is
#: matched too): "The gradient approaches zero" must not blank "approaches". Words that are
#: just as often nouns of a key fact ("weights", "samples", "updates") are left out.
VERBS = _word_set(
    """
    accept accuse address allow apply approach assign assume avoid bend break call care cause
    chain choose combine compare compile compute contain converge convert copy correct cover
    create
    decrease deliver demand detect distill distribute downsample end escape evaluate expect
    fit flatten focus force generate give go grow help hide hold identify improve increase
    keep learn leave let level look maintain make matter mean measure minimize move need
    optimize overshoot pack perform predict prevent produce propagate provide reduce remain
    remove represent require rise run say scale see select serve shrink show slide slow spread
    stall start stay stop stream suit support take tend think throw try turn visualize work
    yield
    """
)
#: Nouns too general to test anything when blanked alone ("fraud _____" -> "detection").
GENERIC_WORDS = _word_set(
    """
    amount answer approach case choice code data dataset detection direction essence example
    form information input kind object
    fraction level machine measure method model number opposite option order output part
    percent percentage prediction problem process proportion ratio result setting share size
    solution step task technique thing time training type value version way
    """
)
#: Words that open a noun phrase without being part of the term: "many CPU nodes" blanks
#: "CPU nodes", "specific translation tasks" blanks "translation tasks".
QUALIFIERS = _word_set(
    """
    actual certain different entire few many multiple new numerous other particular several
    specific various whole
    """
)
#: Modifiers a learner may rightly leave out of a blank ("a _____ out": "single vector" or
#: "vector"; "related time series" or "time series").
LOOSE_MODIFIERS = _word_set(
    """
    actual certain computational different entire framework given last main random related
    sample several single specific version whole
    """
)
#: Heads a learner may rightly leave out when the context shows what kind of thing it is
#: ("Both _____ and Pipe mode": "File mode" or "File"; "the CSV file must not have a _____":
#: "header row" or "header").
LOOSE_HEADS = _word_set(
    """
    algorithm data device effect file format function hyperparameter instance library mode
    node parameter row set setting task term type
    """
)
#: Generic head nouns a learner adds to or leaves off a name, each with the heads that mean
#: the same there ("Dense" or "Dense layer", "sparse weights" or "sparse coefficients",
#: "RecordIO-protobuf format"), and whether the name without it still answers
#: ("sparse" does, but "word" of "word embeddings" does not).
HEAD_NOUN_GROUPS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("layer",), True),
    (("format", "file format"), True),
    (("instance", "instance type"), True),
    (("algorithm",), True),
    (("model",), True),
    (("technique", "method"), True),
    (("weights", "coefficients", "parameters"), True),
    (("neural network", "network"), False),
    (("embeddings", "vectors"), False),
)
#: Link words that make a short key point a comparison or a choice ("better than random",
#: "CPU or GPU"), whose parts a learner can rightly give in other words or order.
_CLAIM_LINKS = frozenset({"than", "or", "and", "nor", "versus", "vs"})
#: Comparatives: "boosting generally yields _____" -> "better accuracy" (or "higher
#: accuracy"); the comparison is the point and has many wordings.
COMPARATIVES = _word_set(
    """
    better bigger deeper faster fewer greater higher larger less lower more simpler slower
    smaller worse
    """
)
#: Plain adjectives: "An input with _____, intentional perturbations" -> "small" (or
#: "slight", "tiny"). Alone, an adjective has synonyms; in a phrase it names a kind.
ADJECTIVES = _word_set(
    """
    arbitrary bad bare big correct deep easy false fast few good great hard high incorrect large
    long low new old optimal right short simple slow small true wrong equal available
    lower necessary needed possible required upper
    """
)
#: Modifiers that point at something else in the sentence ("the errors of the _____" ->
#: "previous trees", or "earlier", "prior", "preceding" trees; "_____ use pickle" -> "older
#: versions", or "old", "earlier" versions) or at a place in a process ("vote on the _____" ->
#: "final result", or "prediction", "output", "outcome"): the blank then names no term.
RELATIVE_MODIFIERS = _word_set(
    """
    corresponding earlier final following former initial later latter newer next older overall
    preceding previous prior remaining resulting same subsequent withheld
    """
)
#: Nouns of a task, which a prompt naming the task's kind gives away: "How is a multi-class
#: confusion matrix ... useful for?" -> "evaluating _____" is "multi-class classification".
TASK_NOUNS = _word_set(
    """
    classification classifier clustering detection forecasting prediction problem recognition
    regression task
    """
)
#: A compound adjective ("low-dimensional", "GZIP-compressed", "fully-connected"): a phrase
#: that starts with one and has more words describes a thing in several ways, and a learner
#: who knows it may give the ways in another order or leave one out.
_COMPOUND_ADJECTIVE = re.compile(r"^\w+-\w*(?:al|ed|ive|ous|ful|able|ible|less|ic)$", re.IGNORECASE)
_SCALE_PREFIX = re.compile(r"^(?:multi|single|non|semi|pre|post|un)-\w", re.IGNORECASE)
NUMBER_WORDS = _word_set("two three four five six seven eight nine ten")
_ADJECTIVE_ENDING = re.compile(r"(?:ive|ous|ful|able|ible|less)$")
_UNITS = frozenset({"kb", "mb", "gb", "tb", "pb", "ms", "gib", "mib", "tib", "hz", "ghz"})
INSTANCE_TYPE = re.compile(r"^ml\.\w+\.\w+$", re.IGNORECASE)
#: Indefinite adverbs and pronouns ("could be _____ in the input" -> "anywhere"): many
#: words fit there.
_INDEFINITE = re.compile(r"^(?:any|every|some|no)(?:where|thing|one|body|time|how|way)s?$")
#: A key point that only illustrates: its numbers and phrases are examples, not facts.
_EXAMPLE = re.compile(
    r"^\s*(?:e\.\s?g\.|(?:for example|for instance|example|examples|such as)\b)", re.IGNORECASE
)
#: Plain numbers, with decimals or thousands separators ("400", "0.5", "4,000").
_NUMBER = re.compile(r"^\d[\d,]*(?:\.\d+)?$")
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|large|long|big)\b|\b(?:maximum|minimum|default|largest|smallest)\b",
    re.IGNORECASE,
)
#: A token as a reader sees it: "ml.p3.2xlarge", "skip-gram" and "LeNet-5" stay whole.
TOKEN = re.compile(r"\w+(?:[.\-]\w+)*")
#: Where a key point breaks into phrases: brackets, punctuation and "->".
_PHRASE_BREAK = re.compile(r"[()\[\],;:/!?\"]|->|\.(?=\s|$)")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(unicodedata.normalize("NFKC", text))


def is_number(token: str) -> bool:
    return bool(_NUMBER.match(token))


def _base_forms(word: str) -> set[str]:
    lowered = word.casefold()
    forms = {lowered}
    for ending in ("es", "s", "ed", "d", "ing"):
        if lowered.endswith(ending) and len(lowered) - len(ending) >= 3:
            forms.add(lowered[: -len(ending)])
    if lowered.endswith("ies"):
        forms.add(lowered[:-3] + "y")
    if lowered.endswith("ing"):
        # "improving" -> "improve", "stopping" -> "stop"
        forms.update({lowered[:-3] + "e", lowered[:-4]})
    return forms


def is_verb(word: str) -> bool:
    return bool(_base_forms(word) & VERBS)


def is_generic(word: str) -> bool:
    return bool(_base_forms(word) & GENERIC_WORDS)


def is_example(point: str) -> bool:
    return bool(_EXAMPLE.match(point))


#: Where an example starts inside a key point ("dynamic features, e.g. a promotion").
_EXAMPLE_INSIDE = re.compile(
    r"\b(?:e\.\s?g\.|i\.\s?e\.|(?:for example|for instance|such as)\b)", re.IGNORECASE
)


def fact_part(point: str) -> str:
    """The key point without its example: all of it, the part before "e.g." or "such as",
    or nothing when it is an example ("Example: fraud detection")."""
    if is_example(point):
        return ""
    return _EXAMPLE_INSIDE.split(point, maxsplit=1)[0]


def facts(card: Card) -> list[str]:
    """The card's key points without their examples; empty ones left out."""
    return [part for point in card.key_points if (part := fact_part(point)).strip()]


def asks_number(card: Card) -> bool:
    return bool(_ASKS_NUMBER.search(card.prompt))


def is_noun_phrase(words: tuple[str, ...]) -> bool:
    """No stop word, verb or adverb in it, and not a lone generic word. An "-ing" form is a
    noun inside a phrase ("learning rate", "machine learning") but a verb alone ("stops
    improving")."""
    if not words:
        return False
    for word in words:
        lowered = word.casefold()
        if lowered in STOP_WORDS or _is_adverb(word):
            return False
        if is_verb(word) and not (len(words) > 1 and _is_gerund(word)):
            return False
    return not (len(words) == 1 and (is_generic(words[0]) or len(words[0]) < 2))


def _is_gerund(word: str) -> bool:
    return word.casefold().endswith("ing") and len(word) > 5


def key_point_phrases(card: Card) -> list[tuple[str, ...]]:
    """The longest noun phrases (1-3 words) of the card's key points, examples skipped:
    "Feature selection reduces dimensionality" gives "Feature selection" and
    "dimensionality", never "Feature" alone."""
    found: dict[str, tuple[str, ...]] = {}
    for point in facts(card):
        for piece in _PHRASE_BREAK.split(point):
            run: list[str] = []
            for word in [*tokens(piece), ""]:
                if word and (is_noun_phrase((word,)) or is_generic(word) or _is_gerund(word)):
                    run.append(word)
                    continue
                _add_maximal(run, found)
                run = []
    return list(found.values())


def _add_maximal(run: list[str], found: dict[str, tuple[str, ...]]) -> None:
    """A run of noun-phrase words, cut into phrases of at most three words; a lone generic
    word or a number is no phrase, and a leading qualifier is dropped."""
    while run and run[0].casefold() in QUALIFIERS:
        run = run[1:]
    if len(run) > 3:
        # A piece of a longer phrase ("validating neural network" of "... code") is no term.
        return
    for start in range(0, len(run), 3):
        phrase = tuple(run[start : start + 3])
        if is_noun_phrase(phrase) and not all(is_number(word) for word in phrase):
            found.setdefault(compact(" ".join(phrase)), phrase)


@dataclass(frozen=True)
class KeyTerm:
    """Why a blank is a key term."""

    reason: str


def key_term(
    card: Card, blank: str, glossary: Mapping[str, str], short_answer: bool = False
) -> KeyTerm | None:
    """Why ``blank`` is a key term of ``card``, or None when it tests nothing (the rule of
    the module docstring). ``short_answer``: the fill-in asks the card's prompt and the
    blank is its whole answer, which is the fact asked."""
    if short_answer:
        return KeyTerm("the card's short answer")
    words = tuple(tokens(blank))
    key = compact(blank)
    if not words or not key:
        return None
    if card.term and any(compact(form) == key for form in term_forms(card.term)):
        return KeyTerm("the card's term")
    if any(compact(form) == key for form in card.accept):
        return KeyTerm("an accepted form of the answer")
    if all(is_number(word) for word in words):
        if asks_number(card) and any(mentions(point, blank) for point in facts(card)):
            return KeyTerm("the number the prompt asks for")
        return None
    if _in_glossary(key, glossary) and _in_key_points(card, blank):
        return KeyTerm("a glossary term of a key point")
    if words[0].casefold() in COMPARATIVES or words[0].casefold() in RELATIVE_MODIFIERS:
        return None
    if len(words) == 1 and _SCALE_PREFIX.match(words[0]):
        # "Single- or _____ CPU instances" -> "multi-machine" (or "multi-node", "distributed"):
        # the opposite of what is shown, in many wordings.
        return None
    if len(words) > 1 and words[0].casefold() in NUMBER_WORDS:
        # "Two input channels": a count, which a learner writes as "2" or leaves out.
        return None
    if len(words) >= 3 and _COMPOUND_ADJECTIVE.match(words[0]):
        # "low-dimensional dense embeddings": "dense embeddings", "low-dimensional
        # embeddings" and "dense low-dimensional vectors" all say it.
        return None
    if len(words) == 1 and words[0].casefold() in _UNITS:
        # "less than 2 _____ of training data" -> "GB": a unit, not a fact.
        return None
    if any(INSTANCE_TYPE.match(word) for word in words):
        # "start with ml.m5.2xlarge or _____": one of several instances that would do, unless
        # the card asks for it (its term or answer, above).
        return None
    if (
        len(words) == 2
        and (is_generic(words[1]) or _is_head_noun(words[1]))
        and (_plain_modifier(words[0]) or is_generic(words[0]))
    ):
        # "false prediction", "single machine", "larger value": the modifier carries the
        # point and has synonyms ("wrong prediction", "one machine", "higher value"), or
        # both words are generic ("training time": "time", "run time");
        # "absolute values", "positive predictions" or "step size" name a thing.
        return None
    if _is_whole_point(card, key, words):
        return KeyTerm("a whole short key point")
    if is_noun_phrase(words) and _in_key_points(card, blank):
        if len(words) == 1 and not _looks_exact(words[0]) and len(words[0]) < 4:
            return None
        if len(words) == 1 and (is_adjective(words[0]) or _is_participle(words[0])):
            # "perturbations that are _____" -> "small"; "the data _____ into integers" ->
            # "tokenized" (or "encoded"): a description, not a name.
            return None
        if len(words) > 1 and _is_participle(words[0]):
            # "(fully) connected hidden layer", "boosted group (of trees)": a description
            # cut out of a longer one.
            return None
        if any(word.casefold() in ADJECTIVES for word in words[1:]):
            # An adjective after a noun starts another phrase: "(gives each) class equal
            # importance" is no name.
            return None
        return KeyTerm("a noun phrase of a key point")
    return None


#: Longest key point that is a blank as a whole ("speech to text", "better than random").
MAX_WHOLE_POINT_WORDS = 3


def _is_whole_point(card: Card, key: str, words: tuple[str, ...]) -> bool:
    """A short key point, named by the card's author as a fact: a blank as a whole even with
    a link word inside, but not with a verb or adverb (a claim, not a name) or at its ends."""
    if not 1 <= len(words) <= MAX_WHOLE_POINT_WORDS:
        return False
    if words[0].casefold() in STOP_WORDS or words[-1].casefold() in STOP_WORDS:
        return False
    if any(word.casefold() in _CLAIM_LINKS for word in words):
        return False
    if any(word.casefold() in STOP_WORDS for word in words) and _is_participle(words[0]):
        # "tokenized into integers" states what is done, not what a thing is called.
        return False
    if not is_noun_phrase(tuple(word for word in words if word.casefold() not in STOP_WORDS)):
        return False
    if len(words) == 1 and is_generic(words[0]):
        return False
    return any(compact(point) == key for point in facts(card))


def _is_adverb(word: str) -> bool:
    lowered = word.casefold()
    return (lowered.endswith("ly") and word.isalpha() and len(word) > 4) or bool(
        _INDEFINITE.match(lowered)
    )


def _is_head_noun(word: str) -> bool:
    """A generic head ("instances", "layer", "format"): "small instances" names no kind."""
    lowered = word.casefold()
    return any(
        lowered in (head, f"{head}s") for heads, _droppable in HEAD_NOUN_GROUPS for head in heads
    )


def _plain_modifier(word: str) -> bool:
    lowered = word.casefold()
    return (
        lowered in ADJECTIVES
        or lowered in COMPARATIVES
        or lowered in LOOSE_MODIFIERS
        # "multiple models": "several", "many" or "a number of" models say the same.
        or lowered in QUALIFIERS
        or bool(_COMPOUND_ADJECTIVE.match(word))
    )


def is_adjective(word: str) -> bool:
    lowered = word.casefold()
    return lowered in ADJECTIVES or (
        word.islower() and len(word) > 5 and bool(_ADJECTIVE_ENDING.search(lowered))
    )


def _is_participle(word: str) -> bool:
    return word.isalpha() and word.casefold().endswith("ed") and len(word) > 5


def _in_glossary(key: str, glossary: Mapping[str, str]) -> bool:
    return any(key in (compact(short), compact(long)) for short, long in glossary.items())


def _in_key_points(card: Card, blank: str) -> bool:
    return any(mentions(point, blank) for point in facts(card))


def _looks_exact(token: str) -> bool:
    """A name, code or number rather than a plain word: it has few synonyms."""
    return len(token) >= 2 and (
        any(char.isdigit() for char in token)
        or "_" in token.strip("_")
        or any(char.isupper() for char in token[1:])
    )
