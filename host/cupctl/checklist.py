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
