"""The one translation catalogue: every key in both languages, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from catalogue import LABELS, LANGS, MESSAGES, message


def fields_of(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_english_and_chinese_say_the_same_things():
    """(From tests/test_ui.py, when the labels and the messages were two tables in two layers.)"""
    EN, ZH = LABELS["en"], LABELS["zh"]
    assert EN.keys() == ZH.keys()
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for table in (EN, ZH, *MESSAGES.values()):
        assert all(isinstance(v, str) and v.strip() for v in table.values())
    for key, text in MESSAGES["en"].items():
        assert fields_of(text) == fields_of(MESSAGES["zh"][key]), key


def placeholders(text: str) -> set[tuple[str, str]]:
    """The fields a sentence formats, with their format specs ({limit:,} and {limit} differ)."""
    return {(field, spec) for _, field, spec, _ in string.Formatter().parse(text) if field is not None}


@pytest.mark.parametrize("table", [LABELS, MESSAGES], ids=["labels", "messages"])
def test_every_key_has_every_language_with_the_same_placeholders(table):
    """Every language the catalogue names, and the format specs too: {limit:,} is not {limit}."""
    assert set(table) == set(LANGS)
    english = table["en"]
    for lang in LANGS:
        assert set(table[lang]) == set(english), f"{lang}: missing {set(english) - set(table[lang])}, " \
                                                  f"extra {set(table[lang]) - set(english)}"
        differ = {key: (placeholders(english[key]), placeholders(text)) for key, text in table[lang].items()
                  if placeholders(english[key]) != placeholders(text)}
        assert not differ, f"{lang}: placeholders differ from English: {differ}"
        assert all(text.strip() for text in table[lang].values())


def test_a_label_is_never_formatted_and_a_message_always_formats():
    """Labels go to gr.I18n as they are: no placeholders. A message formats with its own fields."""
    assert not [key for key, text in LABELS["en"].items() if placeholders(text)]
    for key, text in MESSAGES["en"].items():
        fields = {field.split(".")[0].split("[")[0]: 1 for field, _ in placeholders(text)}
        for lang in LANGS:
            try:
                message(key, lang, **{name: _sample(text, name) for name in fields})
            except (ValueError, TypeError) as exc:
                pytest.fail(f"{lang} {key}: {exc}")


def _sample(text: str, name: str):
    """A value the field's format spec takes: a number for a numeric spec, else text."""
    specs = {spec for field, spec in placeholders(text) if field == name}
    return 1.5 if any(spec and spec[-1] in ",fgd%" for spec in specs) else "x"


def test_a_load_failure_reads_in_the_readers_language(tiny_settings, tmp_path):
    """Pipelines build a load failure's reason before anyone knows the language: the Chinese message was
    Chinese around an English reason ('it is a ... model; this demo runs ...', 'Choose another with ...')."""
    from pipelines.errors import ModelError
    from pipelines.tasks import Pipelines

    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelError) as failed:
        Pipelines(tiny_settings(caption_model=str(folder))).check()
    english, chinese = failed.value.message("en"), failed.value.message("zh")
    assert failed.value.key == "load_failed" and "'bert' model" in english and "--caption-model" in english
    assert "“bert”模型" in chinese and "--caption-model" in chinese
    assert not [word for word in ("Choose", "another", "demo", "model;", "offline") if word in chinese], chinese
