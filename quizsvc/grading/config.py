"""Every grading threshold in one object, with documented defaults.

A deck or a card may override any field (``GradingConfig.with_overrides``).

How the free-answer score settings were chosen (``bench/grading_quality.py`` reruns all of
it): on the Mohler et al. (2011) UNT short-answer set (2,273 answers, 81 questions, human
scores 0-5; key points derived from each reference by the product's clause splitter), a grid
of 34,992 settings (demotion, both ramps, clause exclusivity, both lexical ramps, weights) was
searched by leave-one-assignment-out cross-validation over the paper's 12 folds: each fold is
scored by the setting with the best Pearson r on the other 11 (within 0.005 of the best, the
one leaning most on key points). Pooled held-out predictions: r = 0.629 (Spearman 0.646).
The same rule on all 12 folds gave the defaults below: r = 0.639 (Spearman 0.654), against
0.494 for raw cosine and 0.510 for rapidfuzz token_set_ratio in the same run, and 0.518 for
the paper's best. Nothing is fitted per question.

Free-answer verdicts come from the fitted verdict model (``quizsvc.grading.verdict``), which
reads the score as one of its inputs. Of the threshold settings below, ``key_point_covered_at``
and ``correct_needs_all_key_points`` still shape the verdict; ``correct_at`` and ``partial_at``
only drive ``free_answer.verdicts``, the similarity-score rule the Mohler benchmark still
reports beside the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any


class GradingConfigError(ValueError):
    """An override names an unknown field or gives a value that cannot be used."""


class MultipleResponsePolicy(StrEnum):
    #: Full credit only for exactly the right set of options.
    ALL_OR_NOTHING = "all_or_nothing"
    #: (right picks - wrong picks) / number of right options, floored at 0.
    RIGHT_MINUS_WRONG = "right_minus_wrong"


@dataclass(frozen=True)
class GradingConfig:
    # Choice and fill-in verdicts are exact: full marks are "correct", any partial credit
    # (multiple response) is "partial", none is "incorrect".

    # --- Multiple response ----------------------------------------------------------------
    multiple_response: MultipleResponsePolicy = MultipleResponsePolicy.RIGHT_MINUS_WRONG

    # --- Fill-in typo tolerance -------------------------------------------------------------
    #: Terms shorter than this (letters, spaces not counted) must be spelled exactly: "GRU" is
    #: not "GAN".
    typo_min_length: int = 5
    #: One more edit (insertion, deletion, substitution or swap of neighbours) is allowed for
    #: each further this many letters: 5-11 letters allow 1 edit, 12-18 allow 2.
    typo_letters_per_edit: int = 7
    #: Never more edits than this, however long the term.
    typo_max_edits: int = 3

    # --- Free answer (score settings: cross-validated, see the module docstring) ------------
    #: How much of the question's own direction is removed from every embedding before
    #: comparing (0: none, 1: all). Answers and references both restate the question, which
    #: inflates similarity for any on-topic answer; removing it lets the answer's actual
    #: content decide. Without a prompt (ad-hoc grading) nothing is removed.
    prompt_demotion: float = 1.0
    #: Answer-to-reference cosine (after demotion) mapped linearly to credit 0..1 between
    #: these two values.
    reference_floor: float = -0.2
    reference_full: float = 0.5
    #: Key-point cosine (best clause of the answer, after demotion) mapped to credit 0..1.
    key_point_floor: float = 0.2
    key_point_full: float = 0.7
    #: A clause's similarity to a key point counts in full only within this margin of its
    #: similarity to the key point it matches best; below, the shortfall is subtracted. So
    #: "bagging trains models in parallel" covers that key point, not also the parallel one
    #: about boosting. 2 turns the rule off.
    key_point_exclusivity: float = 0.1
    #: Share of the reference's content words (those not already in the question; stemmed,
    #: typos within ``word_match_ratio`` forgiven) at which lexical credit is full.
    lexical_full: float = 0.3
    #: The same for one key point's words. A key point gets the better of its semantic and
    #: its lexical credit; key points are short, so one shared word must not cover one.
    key_point_lexical_full: float = 0.75
    #: rapidfuzz ratio (0-100) at which two words of five or more letters count as one word
    #: misspelt ("defintion", "definition").
    word_match_ratio: float = 85.0
    #: Weights of the three parts of a free-answer score (normalised to sum 1).
    reference_weight: float = 0.3
    key_point_weight: float = 0.5
    lexical_weight: float = 0.2
    # --- Free-answer verdicts (see the module docstring) -------------------------------------
    #: The similarity-score rule (``free_answer.verdicts``, benchmarks only): "correct" at or
    #: above this ...
    correct_at: float = 0.7
    #: Correct also needs every key point covered (the card's own short answer excepted),
    #: in the verdict model's rules and in the similarity-score rule.
    correct_needs_all_key_points: bool = True
    #: The similarity-score rule: "partial" at or above this (and not correct); below,
    #: "incorrect".
    partial_at: float = 0.25
    #: A key point counts as covered (for the verdict and in feedback) when its credit
    #: reaches this.
    key_point_covered_at: float = 0.6
    #: The same for key points derived from the reference's clauses (a key without listed
    #: key points: ad-hoc grading, the public benchmarks). A whole clause of a long reference
    #: is matched less closely than a short one-idea key point, and at 0.6 right answers
    #: covered none: leave-one-out by question on SemEval-2013 training data, 2-way macro-F1
    #: of the verdict 0.659 -> 0.677 (SciEntsBank) and 0.700 -> 0.708 (Beetle), Mohler r of
    #: the final score 0.532 -> 0.581 (by assignment), with 0.3 instead of 0.6.
    derived_key_point_covered_at: float = 0.3
    #: Score ceiling for an answer that swaps a key term for its opposite.
    contradiction_cap: float = 0.0
    #: Share of a reference clause's other content words that the answer's clause must
    #: repeat before a swapped term there counts as a contradiction.
    contradiction_overlap: float = 0.5
    #: A free-answer grade whose confidence is below this is marked ``needs_review``; None
    #: takes the value fitted with the verdict model (``verdict_model.json``).
    review_below: float | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("correct_at", "partial_at", "prompt_demotion"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be between 0 and 1, got {value}")
        for name in ("lexical_full", "key_point_lexical_full"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                problems.append(f"{name} must be in (0, 1], got {value}")
        if self.partial_at > self.correct_at:
            problems.append("partial_at must not exceed correct_at")
        for low, high in (
            ("reference_floor", "reference_full"),
            ("key_point_floor", "key_point_full"),
        ):
            if getattr(self, low) >= getattr(self, high):
                problems.append(f"{low} must be below {high}")
        weights = (self.reference_weight, self.key_point_weight, self.lexical_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            problems.append("free-answer weights must be >= 0 and not all 0")
        if self.typo_min_length < 1 or self.typo_letters_per_edit < 1 or self.typo_max_edits < 0:
            problems.append("typo settings must be positive")
        if not 0.0 <= self.contradiction_cap <= 1.0:
            problems.append("contradiction_cap must be between 0 and 1")
        if not 0.0 < self.contradiction_overlap <= 1.0:
            problems.append("contradiction_overlap must be in (0, 1]")
        if self.key_point_exclusivity < 0:
            problems.append("key_point_exclusivity must be >= 0")
        for name in ("key_point_covered_at", "derived_key_point_covered_at"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be between 0 and 1")
        if self.review_below is not None and not 0.0 <= self.review_below <= 1.0:
            problems.append("review_below must be between 0 and 1")
        if not 0.0 < self.word_match_ratio <= 100.0:
            problems.append("word_match_ratio must be in (0, 100]")
        if problems:
            raise GradingConfigError("; ".join(problems))

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> GradingConfig:
        """A copy with some fields replaced (a deck's or card's settings); values given as
        strings or ints are converted to the field's type, unknown names are refused."""
        if not overrides:
            return self
        known = {field.name: field for field in fields(self)}
        changes: dict[str, Any] = {}
        for name, raw in overrides.items():
            if name not in known:
                raise GradingConfigError(
                    f"unknown grading setting {name!r}; known: {', '.join(sorted(known))}"
                )
            changes[name] = _convert(name, getattr(self, name), raw)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["multiple_response"] = self.multiple_response.value
        return data


def _convert(name: str, current: Any, raw: Any) -> Any:
    try:
        if name == "review_below":
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                return None
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
        if isinstance(current, MultipleResponsePolicy):
            return MultipleResponsePolicy(raw)
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"true", "yes", "on", "1"}:
                return True
            if text in {"false", "no", "off", "0"}:
                return False
            raise ValueError
        if isinstance(current, int):
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(raw)
        if isinstance(current, float):
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
    except (TypeError, ValueError):
        raise GradingConfigError(
            f"grading setting {name!r} cannot take {raw!r} ({type(current).__name__} expected)"
        ) from None
    return raw
