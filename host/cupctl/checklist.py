"""The pre-session contraindication checklist, from the clinic article the product was specified from.

It is a reminder for a trained therapist, not medical advice.
"""

ABSOLUTE = (
    "skin cancer or other cancer",
    "large benign papillomas or haemangiomas in the area",
    "haemorrhagic diathesis (bleeding disorder)",
    "tuberculosis",
    "hypertensive crisis",
    "severe cardiac arrhythmia",
    "convulsive syndrome or epilepsy",
    "psoriasis",
    "pregnancy",
    "thrombophlebitis",
    "a pacemaker",
    "acute or subacute phase of osteochondrosis, or severe aseptic inflammation",
)
RELATIVE = (
    "a hot or steam bath just before",
    "age over 80 or under 2",
    "heart failure",
    "allergy to the massage oil or cream",
)


def text() -> str:
    lines = ["Before this session, confirm that the person has none of these:"]
    lines += ["  [ ] " + item for item in ABSOLUTE]
    lines.append("Relative contraindications (use judgement, lower vacuum, shorter session):")
    lines += ["  [ ] " + item for item in RELATIVE]
    lines.append("Skin must not be drawn into the cup by more than 1-1.5 cm.")
    return "\n".join(lines)


def answers(absent: list[str], relative_present: list[str] | None) -> dict:
    """What the person confirming the checklist said, checked: every absolute contraindication absent.

    ``relative_present`` None: the relative ones were not asked about (the CLI asks one question)."""
    missing = [item for item in ABSOLUTE if item not in absent]
    if missing:
        raise ValueError("checklist: confirm that the person has none of the absolute contraindications "
                         "(not confirmed: %s)" % "; ".join(missing))
    unknown = [item for item in [*absent, *(relative_present or [])] if item not in ABSOLUTE + RELATIVE]
    if unknown:
        raise ValueError("checklist: unknown item(s): %s" % "; ".join(unknown))
    return {"absolute_absent": list(ABSOLUTE),
            "relative_present": None if relative_present is None else [i for i in RELATIVE if i in relative_present]}


def skipped(how: str) -> dict:
    """The checklist was not shown (``--yes``): said so in the history, not passed off as answered."""
    return {"skipped": how}
