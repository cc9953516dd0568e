from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL, Name, RequestModel, ResponseModel

# Limits (SECURITY.md 5): a signature is a few lines, not a newsletter.
MAX_HTML_CHARS = 20_000
MAX_TEXT_CHARS = 5_000
MAX_RULES = 50
MAX_SIGNATURES = 50

# Body text: line breaks and tabs are fine, NUL and the other C0 controls are not.
BODY_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
MatchValue = Annotated[
    str, StringConstraints(min_length=1, max_length=320, pattern=NO_CONTROL, strip_whitespace=True)
]


class RuleIn(RequestModel):
    match_type: Literal["domain", "email"]
    match_value: MatchValue


class RuleOut(ResponseModel):
    match_type: str
    match_value: str


Html = Annotated[str, StringConstraints(max_length=MAX_HTML_CHARS, pattern=BODY_TEXT)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS, pattern=BODY_TEXT)]
Rules = Annotated[list[RuleIn], Field(max_length=MAX_RULES)]


class SignatureCreate(RequestModel):
    """Also the body of PUT (a full replacement)."""

    name: Name
    html: Html = ""
    text: Text | None = Field(
        default=None, description="Plain-text form; derived from the HTML when absent."
    )
    is_default: bool = False
    rules: Rules = Field(default_factory=list)


class SignaturePatch(RequestModel):
    name: Name | None = None
    html: Html | None = None
    text: Text | None = None
    is_default: bool | None = None
    rules: Rules | None = None


class SignatureOut(ResponseModel):
    id: int
    name: str
    html: str
    text: str
    is_default: bool
    rules: list[RuleOut]
    created_at: datetime
    updated_at: datetime


class SignatureMatch(ResponseModel):
    signature: SignatureOut | None
    matched_by: Literal["email", "domain", "default"] | None
    recipient: str | None = Field(description="The recipient whose rule matched.")
