"""Reference side of the rich-text sanitizer's differential test.

Reads {"inputs": [...], "ours": [...], "benign": [indices], "controls": [...]} on stdin and writes
{"nh3": [...], "unsafe_ours": [...], "unsafe_nh3": [...], "benign_mismatch": [...], "controls_caught": [...]}:
the reference sanitizer's (nh3, Rust's ammonia) output for each input under the same policy, the indices
whose output holds an executable vector, the benign inputs on which the two disagree structurally, and
whether the inspector catches each known-unsafe control (so a blind inspector cannot pass the test).
"""
import html
import html.parser
import json
import re
import sys

import nh3

TAGS = {"b", "i", "em", "strong", "p", "br", "ul", "ol", "li", "code", "pre", "blockquote", "a"}
SCHEMES = {"http", "https", "mailto"}


def safe_href(value):
    """As a browser's URL parser reads it (WHATWG URL): leading and trailing C0 controls and spaces go,
    tabs and newlines anywhere go, then a scheme is a letter followed by letters, digits, + . or -. A value
    with no such scheme is a relative URL on this site; one with a scheme must use an allowed scheme."""
    url = re.sub(r"[\t\n\r]", "", value.strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
                                          "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", url)
    return match is None or match.group(1).lower() in SCHEMES


class Inspector(html.parser.HTMLParser):
    """Tokens of a sanitizer's output, and whether any of them could run script."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tokens = []
        self.unsafe = []

    def handle_starttag(self, tag, attrs):
        self.tokens.append(("start", tag, tuple(sorted(attrs))))
        if tag not in TAGS:
            self.unsafe.append(f"tag {tag}")
        for name, value in attrs:
            if tag == "a" and name == "href":
                if not safe_href(value or ""):
                    self.unsafe.append(f"href {value}")
            elif not (tag == "a" and name == "rel"):
                self.unsafe.append(f"attribute {name}")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        self.tokens.append(("end", tag))

    def handle_data(self, data):
        if data.strip():
            self.tokens.append(("text", " ".join(data.split())))

    def handle_comment(self, data):
        self.unsafe.append("comment")

    def handle_decl(self, decl):
        self.unsafe.append("declaration")

    def handle_pi(self, data):
        self.unsafe.append("processing instruction")


def inspect(markup):
    inspector = Inspector()
    inspector.feed(markup)
    inspector.close()
    return inspector


def main():
    request = json.load(sys.stdin)
    references = [nh3.clean(text, tags=TAGS, attributes={"a": {"href"}}, url_schemes=SCHEMES,
                            link_rel="noopener noreferrer") for text in request["inputs"]]
    result = {
        "nh3": references,
        "unsafe_ours": [i for i, out in enumerate(request["ours"]) if inspect(out).unsafe],
        "unsafe_nh3": [i for i, out in enumerate(references) if inspect(out).unsafe],
        "benign_mismatch": [i for i in request["benign"]
                            if inspect(request["ours"][i]).tokens != inspect(references[i]).tokens],
        "controls_caught": [bool(inspect(markup).unsafe) for markup in request["controls"]],
    }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
