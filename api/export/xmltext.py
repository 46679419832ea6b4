"""Words into REFI-QDA's XML exactly as they are held: a character XML 1.0 cannot hold becomes U+FFFD (the file
stays readable, the positions stay right), and a carriage return is written as a character reference (a parser
reads a literal one as a line feed, and a tool would get other words than Hearken's)."""

import re
from xml.sax.saxutils import escape, quoteattr

NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text(value: str) -> str:
    """Element content."""
    return escape(NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def attribute(value: str) -> str:
    """A quoted attribute value (quoteattr writes CR, LF and tab as references already)."""
    return quoteattr(NOT_XML.sub("\ufffd", value))
