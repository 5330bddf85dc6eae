"""Fill-in questions.

A card with a short, term-like answer ("Conv1D", "Receiver Operating Characteristic") is asked
with its own prompt. Otherwise a cloze is cut from the answer: a key term of the card
(:mod:`quizsvc.exams.keyterms`) is blanked wherever it occurs, and the card's prompt is shown
for context. Key terms are tried best first: the card's term or an accepted form; then
glossary terms, noun phrases of two or more words, exact tokens (L1, LibSVM, learning_rate)
and whole short key points; then the most distinctive single noun of a key point. A term
that the prompt already gives away, or that would leave too little context, is never
blanked; a card with no such term makes no fill-in question.

Each blank accepts its spellings: hyphen and space variants ("skip-gram", "skip gram"), the
glossary abbreviation or expansion (both ways), the card's term and accepted forms where
they name the same thing, the singular of a plural noun phrase, the phrase without a
modifier or head that the sentence makes optional ("single vector" or "vector", "File mode"
or "File"), and a name the answer gives in brackets right after the blank (taken out of the
sentence: "precision and _____" accepts "recall" and "sensitivity"). The grader is lenient
beyond that, but exports to learning management systems compare strings, so the variants
are listed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quizsvc.bank.model import Card
from quizsvc.bank.synonyms import equivalents, synonym_groups
from quizsvc.exams.distractors import compact, mentions, term_forms
from quizsvc.exams.keyterms import (
    HEAD_NOUN_GROUPS,
    INSTANCE_TYPE,
    LOOSE_HEADS,
    LOOSE_MODIFIERS,
    STOP_WORDS,
    TASK_NOUNS,
    facts,
    is_adjective,
    is_generic,
    is_noun_phrase,
    is_verb,
    key_point_phrases,
    key_term,
    tokens,
)
from quizsvc.exams.names import (
    alias_forms,
    glossary_variants,
    hyphen_variants,
    literal_unique,
    merged_glossary,
    spellings,
    unique,
)

__all__ = [
    "BLANK",
    "STOP_WORDS",
    "FillIn",
    "is_short_answer",
    "make_fill_in",
    "word_rarity",
]

BLANK = "_____"
#: Answers with at most this many words, and no list in them, are asked as they are.
SHORT_ANSWER_WORDS = 5
#: Longest phrase that is blanked as a whole: longer ones cannot be recalled word for word.
MAX_BLANK_WORDS = 3
#: The same for a name (the card's term, a glossary expansion): a learner recalls "root mean
#: squared error" or "continuous bag of words" as one name.
MAX_NAME_WORDS = 4
#: Content words that must remain around the blank for the sentence to be answerable.
MIN_CONTEXT_WORDS = 3
#: A single plain word (the last tier) must be at least this long and used by at most this
#: many answers of the deck; shorter or commoner words tend to have synonyms that a learner
#: could rightly write instead.
MIN_PLAIN_WORD_LENGTH = 5
MAX_PLAIN_WORD_CARDS = 2

_OBJECT_PRONOUN = re.compile(r"\s+(?:it|them)\.?$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ABBREVIATION_END = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf)\.$", re.IGNORECASE)
_LIST_MARK = re.compile(r"[,;]|\band\b|\bor\b|->", re.IGNORECASE)


@dataclass(frozen=True)
class FillIn:
    """A fill-in question: what the learner sees and the answers that count as right."""

    prompt: str
    #: Accepted answers, the canonical one first.
    accept: tuple[str, ...]


def make_fill_in(
    card: Card,
    rng: random.Random,
    rarity: Mapping[str, int],
    glossary: Mapping[str, str] | None = None,
) -> FillIn | None:
    """The card's fill-in question, or None when it cannot make a fair one.

    ``rarity`` counts, per word, the cards of the deck whose answer uses it: the rarest word
    is the most distinctive blank. ``rng`` picks among equally good blanks. ``glossary`` is
    the deck's, merged over the default one (:func:`quizsvc.exams.names.merged_glossary`);
    None means the default alone.
    """
    glossary = merged_glossary() if glossary is None else glossary
    if is_short_answer(card):
        return _short_answer(card, glossary)
    return _cloze(card, rng, rarity, glossary)


def is_short_answer(card: Card) -> bool:
    answer = card.answer.strip()
    return len(answer.split()) <= SHORT_ANSWER_WORDS and not _LIST_MARK.search(answer)


def _short_answer(card: Card, glossary: Mapping[str, str]) -> FillIn | None:
    canonical = card.answer.strip()
    if canonical.endswith(".") and not re.search(r"\b\w\.$", canonical):
        canonical = canonical[:-1]
    accept = unique((canonical, *card.accept))
    if any(mentions(card.prompt, form) for form in accept):
        return None
    # A variant the prompt names is the question, not an answer: "What does ROC stand for?"
    # must not accept "ROC".
    variants = [
        form
        for form in spellings(accept, glossary, aliases_only=True)
        if not mentions(card.prompt, form)
    ]
    # "Shuffle it": the prompt names what "it" is, so the verb alone answers.
    variants += [
        form[: match.start()] for form in accept if (match := _OBJECT_PRONOUN.search(form))
    ]
    # The card's short answers that are names too ("Gradient explosion" for "Exploding
    # gradients"): a learner who writes one is right.
    shorts = [
        short
        for short in card.short_answers
        if len(short.split()) <= SHORT_ANSWER_WORDS and not _LIST_MARK.search(short)
    ]
    variants += [
        form
        for short in shorts
        for form in (*alias_forms(short), *_bracketed_name(short))
        if not mentions(card.prompt, form) and not _NOTE_FORM.match(form)
    ]
    # The core of the answer: "CPU instances only" is answered by "CPU instances" (and so
    # "CPU"), "To prevent overfitting" by "prevent overfitting".
    variants += [
        core
        for form in (*accept, *variants)
        if (core := _core_answer(form)) and not mentions(card.prompt, core)
    ]
    heads = [
        form
        for form in with_head_nouns((*accept, *variants), _card_text(card))
        if not mentions(card.prompt, form)
    ]
    found = literal_unique((*accept, *variants, *heads))
    others = [
        form
        for form in equivalents(found, synonym_groups(glossary), card.prompt)
        if not mentions(card.prompt, form)
    ]
    return FillIn(prompt=card.prompt, accept=literal_unique((*found, *others)))


#: A bracketed note, not a name: "e.g. MNIST", "a GPU instance".
_NOTE_FORM = re.compile(r"^\s*(?:e\.g\.|i\.e\.|eg|ie|for example|such as|a|an)\b", re.IGNORECASE)
#: A restrictive word around a short answer ("CPU instances only", "only CPU instances"): the
#: question asks which, so the core alone answers it.
_RESTRICTIVE = re.compile(r"^(?:(?:only|just)\s+)?(.+?)(?:\s+(?:only|alone))?$", re.IGNORECASE)
_INFINITIVE = re.compile(r"^to\s+(\w+)\b", re.IGNORECASE)
#: "Prevent overfitting (regularization)": a one- or two-word name in brackets at the end.
_END_BRACKET = re.compile(r"^(.+?)\s*\(([^()]+)\)\s*$")
_PLAIN_NAME = re.compile(r"^\s*[A-Za-z0-9][\w\- ]*$")


def shorter_forms(form: str, prompt: str) -> tuple[str, ...]:
    """What an accepted form also accepts once a part a learner may leave out is gone: a
    loose modifier or head ("framework containers" -> "containers"), a restrictive "only"
    ("CPU instances only" -> "CPU instances"), a version's patch level ("version 1.2-2" ->
    "1.2"; earlier patches where the question says "_____ and later"). The grader adds them
    to keys built before a rule existed."""
    found = [*loose_variants(form), *version_variants(form, prompt)]
    if core := _core_answer(form):
        found.extend((core, *loose_variants(core)))
    return literal_unique(found)


def _core_answer(form: str) -> str | None:
    """The short answer without a restrictive "only" or an infinitive "to" ("To prevent
    overfitting" -> "prevent overfitting"), or None when there is neither."""
    text = form.strip().rstrip(".")
    match = _RESTRICTIVE.match(text)
    core = match.group(1) if match else text
    infinitive = _INFINITIVE.match(core)
    if infinitive and is_verb(infinitive.group(1)):
        core = core[infinitive.end(0) - len(infinitive.group(1)) :]
    return core if core != text and len(core) >= 2 else None


def _bracketed_name(short: str) -> tuple[str, ...]:
    """The name a short answer gives in brackets at its end, when it is a name (one or two
    words, no stop word, not a lone adjective): "Prevent overfitting (regularization)" says
    dropout's role is regularization."""
    match = _END_BRACKET.match(short.strip())
    if not match or _NOTE_FORM.match(match.group(2)) or not _PLAIN_NAME.match(match.group(2)):
        # "(e.g. MNIST)" is an example, "(application/x-recordio-protobuf)" a media type.
        return ()
    words = tuple(tokens(match.group(2)))
    if not 1 <= len(words) <= 2 or not is_noun_phrase(words) or _lone_modifier(words):
        return ()
    return (" ".join(words),)


def _card_text(card: Card) -> str:
    """What says which kind of thing the card asks for: its prompt and term."""
    return " ".join((card.prompt, card.term or ""))


def _plural(noun: str) -> str:
    return noun if noun.endswith("s") else f"{noun}s"


def _is_name(word: str) -> bool:
    return word[:1].isupper() or any(char.isupper() or char.isdigit() for char in word[1:])


def with_head_nouns(forms: Iterable[str], context: str) -> tuple[str, ...]:
    """The forms with and without a generic head noun (:data:`HEAD_NOUN_GROUPS`): a name
    ending in a head also without it (where that still answers) and with each head that
    means the same there ("sparse weights": "sparse", "sparse coefficients"; "convolutional
    neural network": "convolutional network"); a name without one ("Dense", "RecordIO
    protobuf") also with the heads the card itself uses ("Dense layer" on a card about
    layers, "RecordIO protobuf format" on one about formats). Only names get a head added:
    "false negatives model" is no way to say anything, nor is an answer that ends in a
    remark ("CPU instances only instance") or holds a head already. Heads come only from what
    the question asks for ("Which data format"), not from what it mentions ("How is a
    recurrent neural network trained?" makes no "BPTT network")."""
    found: list[str] = []
    asked = _asked_heads(context)
    for form in forms:
        words = form.split()
        if not 1 <= len(words) <= MAX_NAME_WORDS or "(" in form:
            # "ml.p3.2xlarge (a GPU instance)" has no head to take off: "instance)" ends a note.
            continue
        ended = False
        for heads, droppable in HEAD_NOUN_GROUPS:
            for head in heads:
                size = len(head.split())
                if len(words) <= size or compact(" ".join(words[-size:])) != compact(head):
                    continue
                ended = True
                rest = " ".join(words[:-size])
                if droppable and len(rest) >= 3 and not is_generic(rest) and not is_verb(rest):
                    found.append(rest)
                found.extend(
                    variant
                    for other in heads
                    if other != head
                    for variant in (f"{rest} {other}", f"{rest} {_plural(other)}")
                )
                break
        # A two-word name may lead with a lower-case word ("protobuf RecordIO").
        named = _is_name(words[0]) or (len(words) == 2 and _is_name(words[1]))
        if ended or "(" in form or not named or asked is None:
            continue
        if words[-1].casefold() in STOP_WORDS or any(_is_head_noun(word) for word in words):
            continue
        found.extend(
            variant for head in asked for variant in (f"{form} {head}", f"{form} {_plural(head)}")
        )
    return literal_unique(found)


def _is_head_noun(word: str) -> bool:
    folded = compact(word)
    return any(folded == compact(head) for heads, _droppable in HEAD_NOUN_GROUPS for head in heads)


#: What a question asks for: "Which data format", "What type of neural network", up to the
#: verb ("What does the Flatten layer do" asks for no layer).
_ASKED_PHRASE = re.compile(
    r"\b(?:which|what|list|name)\b[\s,]+((?:(?!(?:is|are|was|were|does|do|did|can|could|"
    r"should|would|will|has|have|that|which|who|where|when|for|to|with|from|by|as)\b)"
    r"[\w\-]+[\s,]*){1,5})",
    re.IGNORECASE,
)


def _asked_heads(context: str) -> tuple[str, ...] | None:
    """The head nouns of the kind of thing ``context`` asks for: the group named first
    after "which" or "what" ("Which data format ... for built-in algorithms" asks for a
    format; "How is a recurrent neural network trained?" asks for no network)."""
    first: tuple[int, tuple[str, ...]] | None = None
    for asked in _ASKED_PHRASE.finditer(context):
        padded = f" {compact(asked.group(1))} "
        for heads, _droppable in HEAD_NOUN_GROUPS:
            for head in heads:
                at = padded.find(f" {compact(head)} ")
                if at >= 0 and (first is None or asked.start() + at < first[0]):
                    first = (asked.start() + at, heads)
        if first is not None:
            break
    return None if first is None else first[1]


@dataclass(frozen=True)
class _Blank:
    phrase: tuple[str, ...]


def _cloze(
    card: Card, rng: random.Random, rarity: Mapping[str, int], glossary: Mapping[str, str]
) -> FillIn | None:
    sentences = _sentences(card.answer)
    for tier in _blank_tiers(card, rarity, glossary):
        made_by = {
            blank.phrase: made
            for blank in tier
            if (made := _blank_out(card, sentences, blank, glossary))
        }
        usable = [made for phrase, made in made_by.items() if not _has_core(phrase, made_by)]
        if usable:
            return usable[0] if len(usable) == 1 else rng.choice(usable)
    return None


def _has_core(phrase: tuple[str, ...], blanks: Mapping[tuple[str, ...], object]) -> bool:
    """Whether another usable blank is this one's core term, the rest a head or modifier a
    learner may leave out ("CPU" of "CPU nodes", "CPU instances"): the core is blanked and
    the rest stays in the sentence."""
    words = [word.casefold() for word in phrase]
    for other in blanks:
        size = len(other)
        if not 0 < size < len(words):
            continue
        core = [word.casefold() for word in other]
        if words[:size] == core:
            rest = words[size:]
        elif words[-size:] == core:
            rest = words[:-size]
        else:
            continue
        if all(
            word in LOOSE_MODIFIERS or word in LOOSE_HEADS or word.removesuffix("s") in LOOSE_HEADS
            for word in rest
        ):
            return True
    return False


def _sentences(text: str) -> list[str]:
    """Sentences of ``text``; "e.g." and the like end none."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if sentences and _ABBREVIATION_END.search(sentences[-1]):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return sentences


def _blank_tiers(
    card: Card, rarity: Mapping[str, int], glossary: Mapping[str, str]
) -> list[list[_Blank]]:
    """Candidate blanks, best tier first, each a key term by :func:`key_term`: the card's
    term and accepted forms; then glossary terms, noun phrases of several words, exact tokens
    and whole short key points; then the rarest single noun of a key point."""
    named: dict[str, _Blank] = {}
    for name in (*card.accept, *(term_forms(card.term) if card.term else ())):
        _add(named, tokens(name), MAX_NAME_WORDS)

    phrases: dict[str, _Blank] = {}
    for point in facts(card):
        for form in term_forms(point):
            _add(phrases, tokens(form))
        for abbreviation, expansion in sorted(glossary.items()):
            for form in (abbreviation, expansion):
                if mentions(point, form):
                    _add(phrases, tokens(form), MAX_NAME_WORDS)
    singles: dict[str, _Blank] = {}
    for phrase in key_point_phrases(card):
        _add(phrases if len(phrase) > 1 or _exact(phrase[0]) else singles, list(phrase))

    def key(blank: _Blank) -> bool:
        return key_term(card, " ".join(blank.phrase), glossary) is not None

    rarest = sorted(
        (blank for name, blank in singles.items() if name not in phrases and key(blank)),
        key=lambda blank: (rarity.get(compact(blank.phrase[0]), 0), -len(blank.phrase[0])),
    )
    plain = [
        blank
        for blank in rarest[:1]
        if rarity.get(compact(blank.phrase[0]), 0) <= MAX_PLAIN_WORD_CARDS
        and len(blank.phrase[0]) >= MIN_PLAIN_WORD_LENGTH
    ]
    return [
        [named[name] for name in sorted(named) if key(named[name])],
        [phrases[name] for name in sorted(phrases) if name not in named and key(phrases[name])],
        plain,
    ]


def _add(found: dict[str, _Blank], words: list[str], longest: int = MAX_BLANK_WORDS) -> None:
    trimmed = _trim(words)
    if 0 < len(trimmed) <= longest:
        found.setdefault(compact(" ".join(trimmed)), _Blank(trimmed))


def _exact(token: str) -> bool:
    """A name, code or number rather than a plain word ("L1", "LibSVM", "learning_rate")."""
    return len(token) >= 2 and (
        any(char.isdigit() for char in token)
        or "_" in token.strip("_")
        or any(char.isupper() for char in token[1:])
    )


def _trim(words: list[str]) -> tuple[str, ...]:
    start, end = 0, len(words)
    while start < end and words[start].casefold() in STOP_WORDS:
        start += 1
    while end > start and words[end - 1].casefold() in STOP_WORDS:
        end -= 1
    return tuple(words[start:end])


def accepted_forms(card: Card, blank: str, glossary: Mapping[str, str]) -> tuple[str, ...]:
    """Every spelling of ``blank``, as written first: hyphen variants, the glossary
    abbreviation or expansion, and the card's term, accepted forms and "Name (expansion)"
    key points whose parts name the same thing."""
    key = compact(blank)
    found = [blank, *hyphen_variants(blank), *glossary_variants(blank, glossary)]
    found.extend(singular_variants(blank))
    found.extend(aws_short_names(blank, glossary))
    if not glossary_variants(blank, glossary):
        # "single-GPU instance" is "single GPU instance", which a learner may write "GPU
        # instance".
        for spelled in (blank, *hyphen_variants(blank)):
            for shorter in loose_variants(spelled):
                found.extend((shorter, *singular_variants(shorter)))
    names = [card.answer, *card.accept, *card.key_points]
    if card.term:
        names.append(card.term)
    for name in names:
        parts = alias_forms(name)
        if any(compact(part) == key for part in parts):
            found.extend(spellings(parts, glossary, aliases_only=True))
    if key in {compact(card.answer), compact(card.term or "")}:
        # The blank is what the card answers: every form the card accepts answers it.
        found.extend(card.accept)
    # The other names of the same thing (the deck's synonym groups): "sensitivity" for
    # "recall", "L2 penalty" or "ridge" for "L2 regularization". A prompt that shows one
    # of them gives the blank away (the caller then drops the blank).
    found.extend(equivalents(found, synonym_groups(glossary), card.prompt))
    found.extend(single for name in list(found) if (single := _capital_singular(name)))
    found.extend(form for name in list(found) for form in aws_prefix_variants(name))
    found.extend(swapped for name in list(found) if (swapped := _swapped_pair(name)))
    return literal_unique(found)


_SAGEMAKER_NAME = re.compile(r"^SageMaker\s+\S", re.IGNORECASE)
_AWS_NAME_PREFIX = re.compile(r"^(?:Amazon\s+SageMaker|Amazon|AWS)\s+(?=\S)", re.IGNORECASE)


def aws_prefix_variants(name: str) -> tuple[str, ...]:
    """The name with AWS's "Amazon"/"AWS"/"Amazon SageMaker" prefix dropped, or "Amazon"
    added to a "SageMaker ..." name: "Amazon SageMaker Spark library" is the SageMaker
    Spark library."""
    found = []
    if _SAGEMAKER_NAME.match(name):
        found.append(f"Amazon {name}")
    if prefix := _AWS_NAME_PREFIX.match(name):
        rest = name[prefix.end() :]
        if len(rest) >= 2:
            found.append(rest)
    return tuple(found)


_TECHNICAL_WORD = re.compile(r"^\w+$")
_VENDOR_WORDS = frozenset({"amazon", "aws", "sagemaker", "apache"})
#: An English noun, not a product or format name ("regularization", "penalty").
_PLAIN_NOUN = re.compile(r"^[a-z]+(?:tion|sion|ty|ment|ance|ence|ness|ing|ity)$")
_CAPITAL_PLURAL = re.compile(r"^([A-Z][A-Z0-9]+)s$")


def _capital_singular(name: str) -> str | None:
    """An abbreviation's singular ("GPUs" -> "GPU", "CNNs" -> "CNN"): right where the
    plural is, and a sentence that shows it shows the blank."""
    match = _CAPITAL_PLURAL.match(name.strip())
    return match.group(1) if match else None


def _swapped_pair(name: str) -> str | None:
    """A two-word technical name in the other order ("protobuf RecordIO" for "RecordIO
    protobuf"): AWS writes both. Only when a word is written in mixed case or with a digit
    (a format or product name), so "absolute values" is not turned around."""
    pair = re.split(r"[\s\-]+", name.strip())
    if len(pair) != 2 or not all(_TECHNICAL_WORD.match(word) for word in pair):
        return None
    if any(word.casefold() in _VENDOR_WORDS or _PLAIN_NOUN.search(word) for word in pair):
        # "Amazon S3" is no "S3 Amazon", "SageMaker Spark" no "Spark SageMaker", "L1
        # regularization" no "regularization L1".
        return None
    if any(word.isdigit() for word in pair):
        # "LeNet-5" is no "5 LeNet".
        return None
    if not any(
        any(c.isdigit() for c in word) or (word[1:] != word[1:].lower() and not word.isupper())
        for word in pair
    ):
        return None
    return f"{pair[1]} {pair[0]}"


_AWS_PREFIX = re.compile(r"^(Amazon|AWS)\s+")


def aws_short_names(blank: str, glossary: Mapping[str, str]) -> tuple[str, ...]:
    """AWS's own short name of a service the blank names: "S3" (glossary: Amazon Simple
    Storage Service) is also written "Amazon S3"."""
    key = compact(blank)
    found = []
    for abbreviation, expansion in sorted(glossary.items()):
        prefix = _AWS_PREFIX.match(expansion)
        if prefix and key in (compact(abbreviation), compact(expansion)):
            found.append(f"{prefix.group(1)} {abbreviation}")
    return tuple(found)


_PLURAL_END = re.compile(r"(?<![sui])s$")
#: A short exact name that carries a two-word blank alone ("L1", "L2", "Conv2D"): letters
#: and at least one digit.
_EXACT_MODIFIER = re.compile(r"^(?=\w*\d)[A-Za-z]\w{0,5}$")
#: Plurals of the deck's Latin and Greek nouns ("local minima" or "local minimum").
_IRREGULAR_SINGULAR = {
    "minima": "minimum",
    "maxima": "maximum",
    "optima": "optimum",
    "criteria": "criterion",
    "matrices": "matrix",
    "indices": "index",
    "vertices": "vertex",
}
#: Nouns in -s that are the same in the singular.
_SAME_IN_SINGULAR = frozenset({"series", "species"})


def loose_variants(blank: str) -> tuple[str, ...]:
    """The blank without a modifier or head a learner may rightly leave out
    (:data:`~quizsvc.exams.keyterms.LOOSE_MODIFIERS`, :data:`~quizsvc.exams.keyterms.LOOSE_HEADS`),
    when what is left is still a specific noun phrase: "single vector" gives "vector",
    "header row" gives "header", but "training time" gives nothing ("training" alone is
    generic) and "dense weights" nothing ("dense" is the point)."""
    words = blank.split()
    if len(words) < 2:
        return ()
    found = []
    if words[0].casefold() in LOOSE_MODIFIERS:
        found.append(words[1:])
    last = words[-1].casefold()
    if {last, last.removesuffix("s"), last.removesuffix("es")} & LOOSE_HEADS:
        found.append(words[:-1])
    elif len(words) == 2 and _EXACT_MODIFIER.match(words[0]) and last.isalpha():
        # "the strength of the _____ penalty": "L2" names "L2 regularization" alone.
        found.append(words[:1])
    return tuple(
        " ".join(rest)
        for rest in found
        if is_noun_phrase(tuple(rest)) and not (len(rest) == 1 and is_generic(rest[0]))
    )


def singular_variants(blank: str) -> tuple[str, ...]:
    """A plural noun phrase in the singular ("false negatives" -> "false negative",
    "frequencies" -> "frequency"): right in a sentence with "a", and an LMS compares strings.
    Only plain lower-case words ("CNNs" and "dynamic_feat" are names)."""
    words = blank.split()
    last = words[-1] if words else ""
    if last in _IRREGULAR_SINGULAR:
        return (" ".join([*words[:-1], _IRREGULAR_SINGULAR[last]]),)
    if not (last.isalpha() and last.islower() and len(last) > 3 and _PLURAL_END.search(last)):
        return ()
    if last in _SAME_IN_SINGULAR:
        return ()
    if last.endswith("ies"):
        single = last[:-3] + "y"
    elif re.search(r"(?:ch|sh|x|ss)es$", last):
        single = last[:-2]
    else:
        single = last[:-1]
    return (" ".join([*words[:-1], single]),)


def _blank_out(
    card: Card, sentences: list[str], blank: _Blank, glossary: Mapping[str, str]
) -> FillIn | None:
    # Whole tokens only: no blank inside "ml.p3.2xlarge" or "skip-gram".
    pattern = re.compile(
        r"(?<!\w)(?<!\w[.\-])"
        + r"[\s\-]+".join(re.escape(word) for word in blank.phrase)
        + r"(?!\w)(?![.\-]\w)",
        re.IGNORECASE,
    )
    shown = [sentence for sentence in sentences if pattern.search(sentence)]
    if not shown:
        return None
    canonical = pattern.search(shown[0])
    assert canonical is not None
    if _inside_a_name(shown[0], canonical.span(), card, glossary):
        return None
    before = tokens(shown[0][: canonical.start()])
    if before and (
        before[-1].casefold() in _PREDICATE_BEFORE
        or (before[-1].casefold().endswith("ly") and len(before[-1]) > 4)
    ):
        # "is computationally _____" -> "inefficient": after an adverb comes a description.
        return None
    accept = accepted_forms(card, canonical.group(0), glossary)
    if any(mentions(card.prompt, form) for form in accept):
        return None
    display = pattern.sub(BLANK, " ".join(shown))
    if _sibling_shown(canonical.group(0), display) or _number_shown(canonical.group(0), display):
        return None
    if _ALIAS_BLANK.search(display):
        # "precision and recall (_____)": another name of what is shown; there are several.
        return None
    if _list_slot(display):
        # "_____, early stopping, L1 and L2 regularization", "such as _____": other members
        # of the list are right too, or the pattern of the others gives it away.
        return None
    if _last_cell_of_a_formula(canonical.group(0), display) or _the_other_alternative(
        canonical.group(0), card.prompt
    ):
        return None
    if _cut_from_a_compound(canonical.group(0), shown[0][canonical.end() :]):
        return None
    if _open_list_member(display, card.prompt) or _task_the_prompt_names(
        canonical.group(0), card.prompt, display
    ):
        return None
    display, aliases = _bracketed_aliases(display)
    display, glosses, examples = _without_remarks(display)
    if _list_slot(_REMARK.sub("", display)) or _ALIAS_BLANK.search(display):
        # "_____ (continuous bag of words), skip-gram and batch skip-gram": a list once the
        # remark is out.
        return None
    if _other_alternative_shown(canonical.group(0), display) or _opposite_shown(
        canonical.group(0), display
    ):
        return None
    aliases += _stated_modifier_dropped(canonical.group(0), card.prompt, glossary)
    aliases += _equivalents_before_head(accept, display, card.prompt, glossary)
    aliases += _equivalents_with_what_follows(accept, display, card.prompt, glossary)
    aliases += _without_a_stated_dimension(accept, display, card.prompt, glossary)
    accept = literal_unique((*accept, *(form for alias in aliases for form in _alias(alias))))
    if _INSTANCE_HEAD.search(canonical.group(0)):
        # "a _____ (ml.p2.xlarge or ml.p3.2xlarge)" for "single-GPU instance": the card's own
        # examples answer which instance.
        accept = literal_unique((*accept, *examples))
    accept = literal_unique((*accept, *version_variants(canonical.group(0), display)))
    accept = literal_unique((*accept, *glosses, *with_head_nouns(accept, _card_text(card))))
    if any(
        mentions(display, form) or mentions(card.prompt, form) or _plural_shown(form, display)
        for form in accept
    ):
        # Also the names found after the first check: "a _____ (sequence)" under "What does
        # a sequence-to-sequence topology do?".
        return None
    context = [word for word in tokens(display) if word.casefold() not in STOP_WORDS]
    if len(context) < MIN_CONTEXT_WORDS:
        return None
    # Only after the check above: "words" is right only beside the "surrounding" the
    # sentence shows, so the sentence's other "words" do not give it away.
    accept = literal_unique((*accept, *_rest_after_what_precedes(accept, display)))
    instruction = (
        "Fill in the blank:"
        if display.count(BLANK) == 1
        else "Fill in the blanks (the same answer in each):"
    )
    return FillIn(prompt=f"{card.prompt}\n{instruction} {display}", accept=accept)


#: A prompt that asks for some members of an open set ("Name downstream tasks ...", "What
#: kinds of problems ...", "where is it useful?", "What can you do with ..."): any other
#: member is right as well.
_OPEN_SET_PROMPT = re.compile(
    r"\b(?:kinds? of|sorts? of|what can you|useful|used for|use cases|uses|examples?|"
    r"name (?:key|important|typical|some|downstream|common|popular)|"
    r"what (?:does|do|can) [\w\- ]{1,30}? (?:offer|provide))\b",
    re.IGNORECASE,
)
#: A prompt that counts or closes its set ("Which two tasks", "must every record contain").
_CLOSED_SET_PROMPT = re.compile(r"\b(?:two|three|four|five|both|every|all|must)\b", re.IGNORECASE)
_SIBLING = r"(?:,|\b(?:and|or)\b)"
#: The blank joined to another member by a comma, "and" or "or", a few words apart at most
#: ("and make _____", "_____ of objects, visualize clusters").
_LIST_MEMBER = re.compile(
    _SIBLING
    + r"\s+(?:[\w\-]+\s+){0,2}?"
    + re.escape(BLANK)
    + r"|"
    + re.escape(BLANK)
    + r"(?:\s+[\w\-]+){0,2}?\s*"
    + _SIBLING,
    re.IGNORECASE,
)
#: A member of what something is compared with ("deeper than LeNet and _____"): the set is
#: the author's pick, and other members are right as well.
_COMPARED_MEMBER = re.compile(
    r"\b(?:than|unlike|like)\s+(?:[\w\-]+\s+){0,3}?"
    + _SIBLING
    + r"\s+"
    + re.escape(BLANK)
    + r"|\b(?:than|unlike|like)\s+"
    + re.escape(BLANK)
    + r"\s*"
    + _SIBLING,
    re.IGNORECASE,
)


def _open_list_member(display: str, prompt: str) -> bool:
    """Whether the blank is one member of a list that is not closed: the prompt asks for
    members of an open set without counting them ("Machine translation and _____" for
    "Name downstream tasks that Word2vec embeddings are used for"), or the list is what
    something is compared with ("even deeper than LeNet and _____"). Other members are
    right as well, whatever the card happens to list."""
    if _COMPARED_MEMBER.search(display):
        return True
    return bool(
        _OPEN_SET_PROMPT.search(prompt)
        and not _CLOSED_SET_PROMPT.search(prompt)
        and _LIST_MEMBER.search(display)
    )


def _task_the_prompt_names(blank: str, prompt: str, display: str = "") -> bool:
    """Whether the blank is a task whose kind the prompt names ("multi-class
    classification" under "How is a multi-class confusion matrix ... useful for?"): what is
    left to recall is a word any learner guesses. So is a phrase whose every word the
    question shows ("in an _____, MaxPooling2D shrinks the image" under "... in a CNN?" for
    "image CNN"), where "2D CNN" or "CNN" would be as right."""
    words = blank.split()
    if len(words) < 2:
        return False
    shown_text = f"{prompt} {display.replace(BLANK, ' ')}"
    shown = {compact(word) for word in re.findall(r"[\w\-]+", shown_text)}
    if all(compact(word) in shown for word in words):
        return True
    if not ({words[-1].casefold(), words[-1].casefold().removesuffix("s")} & TASK_NOUNS):
        return False
    asked = {word.casefold() for word in re.findall(r"[\w\-]+", prompt)}
    return all(word.casefold() in asked for word in words[:-1])


def _equivalents_with_what_follows(
    accept: Iterable[str], display: str, prompt: str, glossary: Mapping[str, str]
) -> tuple[str, ...]:
    """Other names of the blank together with the words the sentence puts after it: "by
    _____ with replacement" (random sampling) also takes "bootstrap sampling", of the group
    of "sampling with replacement"."""
    following = re.search(re.escape(BLANK) + r"((?:\s+[A-Za-z][\w\-]*){1,3})", display)
    if following is None:
        return ()
    after = following.group(1).split()
    longer = [
        variant
        for form in accept
        for size in range(1, len(after) + 1)
        for whole in (f"{form} {' '.join(after[:size])}",)
        for variant in (whole, *loose_variants(whole))
    ]
    found = equivalents(longer, synonym_groups(glossary), prompt)
    return tuple(
        name for name in found if not mentions(display, name) and not mentions(prompt, name)
    )


_VERSION = re.compile(r"^(?:version\s+)?(\d+\.\d+)(?:-(\d+))?$", re.IGNORECASE)


def version_variants(blank: str, display: str) -> tuple[str, ...]:
    """A version blank with and without "version" and its patch level ("version 1.2-2":
    "1.2-2", "1.2", "version 1.2"); where the sentence says "_____ and later", also the
    earlier patches of the same release ("1.2-1"), which AWS documents as the same release
    ("version 1.2 or later")."""
    match = _VERSION.match(blank.strip())
    if not match:
        return ()
    release, patch = match.group(1), match.group(2)
    numbers = [release]
    if patch:
        numbers.append(f"{release}-{patch}")
        later = re.search(
            re.escape(BLANK) + r"\s+(?:and|or)\s+(?:later|newer|above)\b", display, re.IGNORECASE
        )
        if later:
            numbers.extend(f"{release}-{earlier}" for earlier in range(1, int(patch)))
    return tuple(form for number in numbers for form in (number, f"version {number}"))


#: A blank that is one slot of a list: an item between commas, after ", and"/", or", or
#: an example after "such as"/"including"/"e.g."/"like".
_LIST_SLOT = re.compile(
    r"(?:\b(?:such as|including|like|e\.g\.|for example)\s+(?:\S+\s+){0,2}?"
    + re.escape(BLANK)
    + r")|(?:,\s*(?:(?:and|or)\s+(?:(?:a|an|the)\s+(?:[\w\-]+\s+)?)?)?"
    + re.escape(BLANK)
    + r")|(?:"
    + re.escape(BLANK)
    + r"\s*,\s*(?!(?:such|and|or|for|which|so|but|e\.g)\b)(?:[\w\-]+\s+){0,3}?[\w\-]+"
    + r"\s*(?:,|\s(?:and|or)\s))"
    # "embeddings, a hierarchical _____, and a bidirectional LSTM": a middle item.
    + r"|(?:,\s*(?:(?:a|an|the)\s+)?(?:[\w\-]+\s+)?"
    + re.escape(BLANK)
    + r"\s*(?:,|\s(?:and|or)\s))"
    # "Learning rate, batch size and number of _____": the last item after a comma list
    # without a serial comma.
    + r"|(?:,\s*(?:[\w\-]+\s+){0,3}?[\w\-]+\s+(?:and|or)\s+(?:[\w\-]+\s+){0,2}?"
    + re.escape(BLANK)
    + r")",
    re.IGNORECASE,
)


_FORMULA = re.compile(r"[/+=×*]")
_YES_NO_PROMPT = re.compile(r"^\s*(?:is|are|does|do|can|should|will)\b", re.IGNORECASE)


def _last_cell_of_a_formula(blank: str, display: str) -> bool:
    """Whether the blank is the one missing cell of a formula that shows its siblings
    ("(_____ + TN) / (_____ + TN + FP + FN)": TP is all that is left of TP, TN, FP, FN)."""
    if not (blank.isupper() and len(blank) <= 4 and _FORMULA.search(display)):
        return False
    siblings = {
        token
        for token in re.findall(r"(?<![A-Za-z])[A-Z]+(?![A-Za-z])", display)
        if len(token) == len(blank) and token != blank
    }
    return len(siblings) >= 2


def _the_other_alternative(blank: str, prompt: str) -> bool:
    """Whether a yes/no prompt names the blank's one alternative, a character away ("Is
    SageMaker XGBoost CPU-only?" leaves only GPU for "... also train on _____ instances")."""
    if not _YES_NO_PROMPT.match(prompt) or len(blank) > 6:
        return False
    folded = blank.casefold()
    return any(
        len(word) == len(folded)
        and word != folded
        and sum(a != b for a, b in zip(word, folded, strict=True)) == 1
        for word in re.findall(r"\w+", prompt.casefold())
    )


def _lone_modifier(words: Iterable[str]) -> bool:
    """A single adjective or participle ("unsupervised", "supervised"): a remark about the
    blank, never another name of it."""
    found = tuple(words)
    return len(found) == 1 and (is_adjective(found[0]) or found[0].casefold().endswith("ed"))


def _plural_shown(form: str, display: str) -> bool:
    """Whether the sentence shows an abbreviation's plural ("multiple GPUs" for "GPU")."""
    return form.isupper() and len(form) >= 2 and mentions(display, f"{form}s")


def _number_shown(blank: str, display: str) -> bool:
    """Whether the sentence shows the number the blank holds ("About _____ into the future;
    avoid very large values (over 400)" for "400 data points")."""
    numbers = [token for token in tokens(blank) if any(char.isdigit() for char in token)]
    shown = tokens(display.replace(BLANK, " "))
    return bool(numbers) and all(number in shown for number in numbers)


def _cut_from_a_compound(blank: str, after: str) -> bool:
    """Whether a blank ending in a generic word is cut out of a longer noun ("Amazon _____
    jobs" for "SageMaker training"): the learner writes the name ("SageMaker") and is told
    it is wrong."""
    words = blank.split()
    following = re.match(r"\s+([A-Za-z][\w\-]*)", after)
    if not words or not is_generic(words[-1]) or following is None:
        return False
    word = following.group(1)
    return word.casefold() not in STOP_WORDS and not is_verb(word)


def _equivalents_before_head(
    accept: Iterable[str], display: str, prompt: str, glossary: Mapping[str, str]
) -> tuple[str, ...]:
    """Other names of the blank with the head noun the sentence puts after it: "fed into a
    _____ layer" (perceptron) also takes "Dense" and "fully connected", the group of
    "perceptron layer" without "layer"."""
    following = re.search(re.escape(BLANK) + r"\s+([A-Za-z]+)\b", display)
    if following is None:
        return ()
    head = following.group(1).casefold()
    if not any(head in heads for heads, _droppable in HEAD_NOUN_GROUPS):
        return ()
    found = []
    for name in equivalents(
        [f"{form} {head}" for form in accept], synonym_groups(glossary), prompt
    ):
        words = name.split()
        if len(words) > 1 and words[-1].casefold() == head:
            found.append(" ".join(words[:-1]))
    return tuple(found)


def _rest_after_what_precedes(accept: Iterable[str], display: str) -> tuple[str, ...]:
    """What an accepted form leaves when the sentence already puts its first word right
    before the blank: "from its surrounding _____" (context words) also takes "words",
    since "surrounding words" is accepted and the sentence supplies "surrounding" (review
    15, round 8: "words" was marked wrong)."""
    preceding = re.search(r"([A-Za-z][\w\-]*)\s+" + re.escape(BLANK), display)
    if preceding is None:
        return ()
    before = preceding.group(1).casefold()
    found = []
    for form in accept:
        words = form.split()
        if len(words) > 1 and words[0].casefold() == before:
            found.append(" ".join(words[1:]))
    return tuple(found)


#: A layer name ending in its dimension: "MaxPooling2D", "Conv1D".
_DIMENSIONED = re.compile(r"^([A-Za-z]+?)([1-3]D)$")


def _without_a_stated_dimension(
    accept: Iterable[str], display: str, prompt: str, glossary: Mapping[str, str]
) -> tuple[str, ...]:
    """A dimensioned layer name without its dimension, and that name's other names, when
    the sentence shows another layer of the same dimension: in "Conv2D -> _____ -> Dropout"
    the blank is 2D already, so "MaxPooling" and "max pooling" answer it (review 15, round
    8: "max pooling" was marked wrong for MaxPooling2D)."""
    shown = {match.group(2) for word in display.split() if (match := _DIMENSIONED.match(word))}
    bases = [
        match.group(1)
        for form in accept
        if (match := _DIMENSIONED.match(form)) and match.group(2) in shown
    ]
    if not bases:
        return ()
    return tuple(literal_unique((*bases, *equivalents(bases, synonym_groups(glossary), prompt))))


def _other_alternative_shown(blank: str, display: str) -> bool:
    """Whether the sentence offers the blank as the other half of an "or" with a word a
    character away ("CPU or _____", "_____ or GPU instances"): only GPU is left."""
    mine = [word.casefold() for word in re.split(r"[\s\-]+", blank) if 0 < len(word) <= 6]
    if not mine:
        return False
    # Every word near the "or", both sides: "single CPU or _____" (single GPU instance) and
    # "_____ or single GPU instance" (single CPU) offer CPU against GPU.
    before = re.findall(
        r"((?:[\w\-]+\s+){1,3})or\s+(?:[\w\-]+\s+){0,2}?" + re.escape(BLANK), display, re.I
    )
    after = re.findall(re.escape(BLANK) + r"\s+or\s+((?:[\w\-]+\s*){1,3})", display, re.I)
    shown = [word.casefold() for found in (*before, *after) for word in re.split(r"[\s\-]+", found)]
    for word in shown:
        for first in mine:
            if (
                len(word) == len(first)
                and word != first
                and sum(a != b for a, b in zip(word, first, strict=True)) == 1
            ):
                return True
    return False


#: Opposite modifiers: a sentence showing "short-term state" gives "long-term state" away,
#: "false positive rate" gives "true positive rate".
_OPPOSITES = (
    ("long", "short"),
    ("true", "false"),
    ("positive", "negative"),
    ("input", "output"),
    ("encoder", "decoder"),
    ("upper", "lower"),
    ("minimum", "maximum"),
    ("sparse", "dense"),
    ("local", "global"),
    ("supervised", "unsupervised"),
    ("micro", "macro"),
)


def _opposite_shown(blank: str, display: str) -> bool:
    """Whether the sentence shows the blank with its first modifier swapped for the opposite
    ("Both a _____ and a short-term state" for "long-term state")."""
    match = re.match(r"^([A-Za-z]+)([\s\-].+)$", blank.strip())
    if not match:
        return False
    first, rest = match.group(1).casefold(), match.group(2)
    shown = compact(display.replace(BLANK, " "))
    for pair in _OPPOSITES:
        if first in pair:
            other = pair[1] if first == pair[0] else pair[0]
            if f" {compact(other + rest)} " in f" {shown} ":
                return True
    return False


def _list_slot(display: str) -> bool:
    """Whether a blank is one item of an enumeration of three or more ("_____, early
    stopping, L1 regularization and L2 regularization") or an example of an open class
    ("a general-purpose instance such as _____"): the other items, or any member of the
    class, are right as well, or the pattern of the others gives the answer."""
    return bool(_LIST_SLOT.search(display))


_REMARK = re.compile(r"\s*\(([^()]*)\)")
#: A remark stands beside a blank when it follows it in the same clause: no other remark
#: and no comma, semicolon or colon between them.
_BESIDE_BLANK = re.compile(re.escape(BLANK) + r"[^(),;:]*$")
#: Stop words a gloss may contain and still be a name ("vector representations of words").
_GLOSS_LINKS = frozenset({"of", "for", "a", "an", "the"})
#: Longest gloss taken as another answer.
MAX_GLOSS_WORDS = 5


def _without_remarks(display: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The sentence without the bracketed remark beside a blank, and its gloss. A remark
    beside a blank paraphrases what is blanked ("_____ (vector representations of words)",
    "When _____ are critical (a missed positive is costly)", "sparse _____ (many of them
    exactly zero)"), which gives it away; a remark that holds a blank stays. A gloss right
    after the blank, a short phrase without a verb, is also a right answer: a learner may
    write the definition the card itself gives, and so may a name the remark gives with
    "the" further on in the clause ("the _____ applied at each boosting step (the learning
    rate)"). Instance types in a remark right after the blank ("(ml.p2.xlarge or
    ml.p3.2xlarge)") are returned as its examples."""
    glosses: list[str] = []
    examples: list[str] = []

    def drop(match: re.Match[str]) -> str:
        remark = match.group(1)
        before = display[: match.start()]
        if BLANK in remark or not _BESIDE_BLANK.search(before):
            return match.group(0)
        words = tokens(remark)
        after_blank = before.rstrip().endswith(BLANK)
        # "the _____ applied at each boosting step (the learning rate)": a definite name
        # after the blank and the participle phrase that describes it names the blank; after
        # anything else ("from _____ to the training instances (the fleet)") it names what
        # stands just before it.
        between = tokens(before[before.rfind(BLANK) + len(BLANK) :])
        definite = (
            bool(words)
            and words[0].casefold() == "the"
            and bool(between)
            and _is_participle(between[0])
        )
        if after_blank:
            examples.extend(word for word in words if INSTANCE_TYPE.match(word))
        # A lone adjective ("(unsupervised)") says something about the blank, not what it is.
        if (
            (after_blank or definite)
            and not _lone_modifier(words)
            and 0 < len(words) <= MAX_GLOSS_WORDS
            and not any(is_verb(word) and not _gerund_in_phrase(word, words) for word in words)
            and all(
                word.casefold() in _GLOSS_LINKS
                or is_noun_phrase((word,))
                or is_generic(word)
                or _gerund_in_phrase(word, words)
                for word in words
            )
        ):
            named = words[1:] if words[0].casefold() in _ARTICLES else words
            if named:
                glosses.append(" ".join(named))
        return ""

    return _REMARK.sub(drop, display), tuple(glosses), tuple(examples)


_INSTANCE_HEAD = re.compile(r"\binstances?(?:\s+types?)?$", re.IGNORECASE)


def _is_participle(word: str) -> bool:
    """A past or present participle opening a phrase ("applied", "using")."""
    folded = word.casefold()
    return word.isalpha() and len(folded) > 4 and folded.endswith(("ed", "ing"))


def _gerund_in_phrase(word: str, words: Iterable[str]) -> bool:
    """ "learning" in "the learning rate" names a kind of rate; alone it is a verb."""
    content = [other for other in words if other.casefold() not in _GLOSS_LINKS]
    return len(content) > 1 and word.casefold().endswith("ing")


#: Words after which a blank is a predicate, a verb or an adjective ("training is _____",
#: "where it _____", "very _____", "can get _____"): many words fit there, whatever the
#: card says.
_PREDICATE_BEFORE = frozenset(
    re.findall(
        r"\w+",
        "is are was were be been being it they we you he she which who very too so "
        "get gets got getting become becomes can could may might will would should must",
    )
)


def _sibling_shown(blank: str, display: str) -> bool:
    """Whether the sentence shows the blank's numbered sibling ("_____ and enc1_network" for
    enc0_network, "different L1 and _____ settings" for L2 regularization): a word of the
    same shape whose numbers differ from a word of the blank's in one place only, so the
    answer is a digit away from what is shown. ("1.0-1 and earlier; _____ and later" for
    version 1.2-2 is no sibling: the version cannot be read off.)"""
    numbered = [word for word in blank.split() if any(char.isdigit() for char in word)]
    if not numbered:
        return False
    shown_words = re.findall(r"[\w.\-]+", display.replace(BLANK, " ").casefold())
    for word in numbered:
        folded = word.casefold()
        shape = re.sub(r"\d+", "#", folded)
        numbers = re.findall(r"\d+", folded)
        for other in shown_words:
            other = other.strip(".-")
            if other == folded or re.sub(r"\d+", "#", other) != shape:
                continue
            differing = sum(a != b for a, b in zip(numbers, re.findall(r"\d+", other), strict=True))
            if differing == 1:
                return True
    return False


#: A blank alone in brackets, after the thing it names another way.
_ALIAS_BLANK = re.compile(
    r"\((?:(?:a|an|the)\s+)?" + re.escape(BLANK) + r"(?:\s+[\w\-]+)?\)", re.IGNORECASE
)
#: "_____ (sensitivity)": a name in brackets right after the blank.
_BRACKETED_AFTER_BLANK = re.compile(re.escape(BLANK) + r"\s*\(([^()]{1,60})\)")
_ARTICLES = frozenset({"a", "an", "the"})
#: Longest bracketed name taken as another name of the blank.
MAX_BRACKETED_WORDS = 3


def _bracketed_aliases(display: str) -> tuple[str, tuple[str, ...]]:
    """The sentence without names in brackets right after a blank, and those names: "the
    harmonic mean of precision and _____ (sensitivity)" shows the answer in other words and
    makes "sensitivity" right as well. A remark in brackets ("(a missed positive is
    costly)") is no name and stays."""
    aliases: list[str] = []

    def take(match: re.Match[str]) -> str:
        words = tuple(tokens(match.group(1)))
        if words and words[0].casefold() in _ARTICLES:
            words = words[1:]
        if (
            0 < len(words) <= MAX_BRACKETED_WORDS
            and is_noun_phrase(words)
            and not _lone_modifier(words)
        ):
            aliases.append(" ".join(words))
            return BLANK
        return match.group(0)

    return _BRACKETED_AFTER_BLANK.sub(take, display), tuple(aliases)


def _inside_a_name(
    sentence: str, span: tuple[int, int], card: Card, glossary: Mapping[str, str]
) -> bool:
    """Whether the blank would cut a longer name of the sentence ("continuous bag" of
    "continuous bag of words"): the rest of the name then gives the answer away or makes it
    something else."""
    names = [*glossary.keys(), *glossary.values(), *(term_forms(card.term) if card.term else ())]
    for name in names:
        words = re.findall(r"\w+", name)
        if len(words) < 2:
            continue
        pattern = r"(?<!\w)" + r"[\W_]+".join(re.escape(word) for word in words) + r"(?!\w)"
        for found in re.finditer(pattern, sentence, re.IGNORECASE):
            start, end = found.span()
            if start <= span[0] and span[1] <= end and (start, end) != span:
                return True
    return False


def _stated_modifier_dropped(
    blank: str, context: str, glossary: Mapping[str, str]
) -> tuple[str, ...]:
    """The two-word blank without its first word when the question's prompt already says it:
    "What does the Softmax layer do at the end of a typical image-classification CNN?"
    accepts "probabilities" for "class probabilities", and "Is XGBoost used for
    classification or for regression?" accepts "trees" for "regression trees"; "What
    characterizes the GoogLeNet CNN architecture?" does not accept "modules" for "inception
    modules"."""
    words = blank.split()
    if len(words) != 2 or glossary_variants(blank, glossary):
        return ()
    modifier = words[0].casefold().removesuffix("s")
    if len(modifier) < 4 or not modifier.isalpha():
        return ()
    rest = tuple(words[1:])
    # Hyphens and underscores split words here: "image-classification" says "class".
    said = any(word.casefold().startswith(modifier) for word in re.findall(r"[^\W_]+", context))
    if not said or not is_noun_phrase(rest) or (len(rest) == 1 and is_generic(rest[0])):
        return ()
    return (" ".join(rest),)


def _alias(name: str) -> tuple[str, ...]:
    return (name, *hyphen_variants(name), *singular_variants(name))


def word_rarity(cards: Iterable[Card]) -> dict[str, int]:
    """Per word, how many of the cards' answers use it."""
    counts: dict[str, int] = {}
    for card in cards:
        for word in sorted(set(compact(card.answer).split())):
            counts[word] = counts.get(word, 0) + 1
    return counts
