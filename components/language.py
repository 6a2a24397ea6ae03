"""The page's one language switch: English or 简体中文, for everything the page shows.

Gradio's front-end picks its language once, from `navigator.language`, before any of the
app's own scripts run (launch(head=...) comes too late), and a language changed later only
reaches part of the page. So the switch stores the choice in a cookie and reloads the page;
the page's HTML starts with a script that makes the front-end read that choice (labels,
Gradio's own texts such as "Drop Image Here"), and the server reads the same cookie for what
it writes (messages, toast headings, example captions: components/common.py lang_of).
"""

from __future__ import annotations

import gradio as gr

from catalogue import message
from server.middleware import HeadFirst

from .i18n import t

LANG_COOKIE = "mmdemo_lang"
LANGUAGES = [("English", "en"), ("简体中文", "zh")]  # each named in itself
BROWSER_LOCALE = {"en": "en", "zh": "zh-CN"}

# Runs before Gradio's scripts (module scripts wait for the document): the cookie's language,
# if the switch set one, becomes the browser's language as far as the front-end can tell.
# Without the cookie, the browser's own language decides the same way the server does (lang_of): any Chinese
# locale (zh, zh-HK, zh-Hans-CN...) gets the Chinese page, any other English, Gradio's own strings included.
PAGE_SCRIPT = ("<script>(function(){var m=document.cookie.match(/(?:^|; )" + LANG_COOKIE + "=(en|zh)(?:;|$)/);"
               "var c=m?m[1]:(/^zh/i.test(navigator.language||'')?'zh':'en');var l=c==='zh'?'zh-CN':'en';"
               "Object.defineProperty(navigator,'language',{get:function(){return l},configurable:true});"
               "Object.defineProperty(navigator,'languages',{get:function(){return [l]},configurable:true});"
               "document.documentElement.lang=l;})();</script>").encode()

SWITCH_JS = ("(lang) => { document.cookie = '" + LANG_COOKIE + "=' + lang + '; path=/; max-age=31536000; "
             "SameSite=Lax'; window.location.reload(); return []; }")


# Gradio 6.31 heads every toast with its English type ("Error", "Warning"), whatever the page's
# language; on a Chinese page (svelte-i18n sets <html lang>) the heading is drawn in Chinese.
TOAST_CSS = "\n".join(
    f'html[lang^="zh"] .toast-title.{kind} {{ font-size: 0; }}\n'
    f'html[lang^="zh"] .toast-title.{kind}::before {{ content: "{message(key, "zh")}"; font-size: var(--text-md); }}'
    for kind, key in (("error", "error_title"), ("warning", "warning_title"), ("info", "info_title")))


def lang_of(request: gr.Request | None) -> str:
    """'zh' for a page switched to Chinese or a browser (or client) that prefers Chinese, else 'en'.
    The switch's cookie wins over the browser's Accept-Language."""
    headers = getattr(request, "headers", None) or {}
    for part in (headers.get("cookie") or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == LANG_COOKIE and value in BROWSER_LOCALE:
            return value
    accept = (headers.get("accept-language") or "").lower()
    return "zh" if accept.startswith("zh") else "en"


def render(ui) -> None:
    """The switch, showing the page's language once it is known."""
    switch = gr.Radio(LANGUAGES, label=t("page_language"), elem_id="lang-switch", container=False,
                      visible=True)
    switch.input(None, switch, None, js=SWITCH_JS, api_visibility="private")

    def current(request: gr.Request) -> str:
        return lang_of(request)

    ui.on_load.append((current, switch))


class PageLanguage(HeadFirst):
    """ASGI middleware: the page's HTML gets PAGE_SCRIPT first thing in its <head>."""

    script = PAGE_SCRIPT
