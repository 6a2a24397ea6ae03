"""What each input contributed (issue 30, part 2): the rerun really lacks the input (what reached the model,
tests/recorder.py), and the likelihood figure is the model's own (a forward pass computed here, apart).

On the tiny random-weight Omni: the answers are gibberish, so the tests assert what reached the model and the
arithmetic, never what the answer says.
"""

from __future__ import annotations

import pytest
import torch
from transformers import BatchFeature

from pipelines import ablation
from pipelines.errors import InputError
from tests.conftest import ASSETS
from tests.recorder import Recorder


def answered(pipeline, request):
    """The full Answer to a prepared request (its Usage: chat, processor output, token ids)."""
    answer = None
    for answer in pipeline.answer(request):
        pass
    return answer


def rerun(pipeline, answer, what):
    """ablation.run over the kept answer, recorded: (the prompts that reached the model, the Ablation)."""
    usage = answer.usage
    with Recorder(pipeline.model) as recorder:
        items = list(ablation.run(pipeline, usage.messages, list(usage.tokens), usage.inputs, what))
    assert isinstance(items[-1], ablation.Ablation)
    assert all(isinstance(i, str) for i in items[:-1]) and len(items) >= 2  # the new answer streamed first
    return recorder, items[-1]


def token(loaded, name):
    return loaded.tokenizer.convert_tokens_to_ids(getattr(loaded.processor, f"{name}_token"))


def direct_score(loaded, messages, answer_ids) -> float:
    """log p(answer | prompt) with the model's plain forward: the processor's own output for `messages`, the
    answer's ids after it, positions as the model computes them itself, every logit, summed here."""
    inputs = loaded.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt")
    prompt = inputs["input_ids"].shape[-1]
    ids = torch.cat([inputs["input_ids"], torch.tensor([answer_ids])], dim=-1)
    full = BatchFeature(dict(inputs, input_ids=ids, attention_mask=torch.ones_like(ids)))
    full = full.to(loaded.device).to(loaded.dtype)  # floats in the model's dtype, ids stay integers
    with torch.no_grad():
        logits = loaded.generator(**full).logits[0].float()
    logprobs = torch.log_softmax(logits[prompt - 1:-1], dim=-1)
    return float(sum(logprobs[i, t] for i, t in enumerate(answer_ids)))


def test_without_the_image_no_image_reaches_the_model_and_the_score_is_the_models_own(pipes):
    vqa = pipes.vqa
    answer = answered(vqa, vqa.prepare(str(ASSETS / "street.png"), "What colour is the house?"))
    loaded = vqa.model
    image = token(loaded, "image")
    assert answer.usage.inputs["input_ids"][0].tolist().count(image) > 0
    recorder, result = rerun(vqa, answer, "image")
    prompt = recorder.prompts[0]  # the rerun's generate(); the scoring passes come after it
    assert prompt.count(image) == 0 and not prompt.images
    assert "What colour is the house?" in prompt.text
    tokens = list(answer.usage.tokens)
    assert result.with_input.tokens == result.without_input.tokens == len(tokens)
    close = 1e-3 if loaded.dtype == torch.float32 else 0.05 * len(tokens)  # bf16 on a GPU: per-token rounding
    assert result.with_input.total == pytest.approx(direct_score(loaded, answer.usage.messages, tokens), abs=close)
    ablated = ablation.without(answer.usage.messages, "image")
    assert result.without_input.total == pytest.approx(direct_score(loaded, ablated, tokens), abs=close)
    assert result.change == pytest.approx(result.without_input.mean - result.with_input.mean)
    assert result.original == loaded.tokenizer.decode(tokens, skip_special_tokens=True)
    assert result.prompt_tokens[0] > result.prompt_tokens[1]
    data = result.as_dict()
    assert data["left_out"] == "image" and data["with_input"]["tokens"] == len(tokens)
    assert "".join(text for text, mark in data["diff"] if mark != "+") == result.original


def test_without_the_clip_no_audio_reaches_the_model(pipes):
    audio = pipes.audio
    answer = answered(audio, audio.prepare(str(ASSETS / "speech_en.wav"), "What is said?"))
    assert ablation.choices(answer.usage.messages) == ["audio"]
    recorder, result = rerun(audio, answer, "audio")
    prompt = recorder.prompts[0]
    assert prompt.count(token(audio.model, "audio")) == 0 and not prompt.audio_frames
    assert answer.usage.inputs["input_ids"][0].tolist().count(token(audio.model, "audio")) > 0
    assert result.without_input.tokens == len(answer.usage.tokens)


def test_a_videos_sound_and_its_frames_are_left_out_apart(pipes):
    video = pipes.video
    answer = answered(video, video.prepare(str(ASSETS / "street_en.mp4"), "What happens?"))
    loaded = video.model
    assert ablation.choices(answer.usage.messages) == ["video_sound", "video_frames"]
    ids = answer.usage.inputs["input_ids"][0].tolist()
    assert ids.count(token(loaded, "video")) > 0 and ids.count(token(loaded, "audio")) > 0
    recorder, _ = rerun(video, answer, "video_sound")
    prompt = recorder.prompts[0]
    assert prompt.count(token(loaded, "video")) > 0 and prompt.count(token(loaded, "audio")) == 0
    assert not prompt.use_audio_in_video
    recorder, _ = rerun(video, answer, "video_frames")
    prompt = recorder.prompts[0]
    assert prompt.count(token(loaded, "video")) == 0 and prompt.count(token(loaded, "audio")) > 0


def test_without_the_earlier_turns_the_image_moves_to_the_question(pipes):
    vqa = pipes.vqa
    answer = answered(vqa, vqa.prepare(str(ASSETS / "street.png"), "And the roof?",
                                       [("Which colour is the house?", "Red.")]))
    assert ablation.choices(answer.usage.messages) == ["image", "history"]
    recorder, _ = rerun(vqa, answer, "history")
    prompt = recorder.prompts[0]
    assert "Which colour is the house?" not in prompt.text and "Red." not in prompt.text
    assert "And the roof?" in prompt.text and prompt.count(token(vqa.model, "image")) > 0


def test_an_input_the_answer_did_not_have_is_refused(pipes):
    caption = pipes.caption
    answer = answered(caption, caption.prepare(str(ASSETS / "street.png")))
    with pytest.raises(InputError) as err:
        list(ablation.run(caption, answer.usage.messages, list(answer.usage.tokens), answer.usage.inputs, "audio"))
    assert err.value.key == "ablation_absent" and "image" in err.value.message("en")


def test_words_are_compared_by_word_in_english_and_by_character_in_chinese():
    assert ablation.diff_words("The house is red.", "The house is blue.") == [
        ("The house is ", None), ("red", "-"), ("blue", "+"), (".", None)]
    assert ablation.diff_words("房子是红色的。", "房子是蓝色的。") == [
        ("房子是", None), ("红", "-"), ("蓝", "+"), ("色的。", None)]
    assert ablation.similarity("a b", "a b") == 1.0 and ablation.similarity("红", "蓝") == 0.0


def test_an_empty_answer_scores_nothing(pipes):
    score = ablation.answer_score(pipes.caption.model, [], [])
    assert (score.total, score.tokens, score.mean) == (0.0, 0, None)


def test_the_api_reruns_the_sessions_last_answer(client):
    """/ablation answers about the caller's own last answer (its gradio_client session)."""
    from gradio_client import handle_file

    client.predict(handle_file(str(ASSETS / "street.png")), "en", api_name="/caption")
    data = client.predict("caption", "image", api_name="/ablation")
    assert data["left_out"] == "image" and data["with_input"]["tokens"] > 0
    assert set(data) >= {"original", "answer", "diff", "without_input", "mean_logprob_change"}
    with pytest.raises(Exception) as err:
        client.predict("caption", "audio", api_name="/ablation")
    assert "no such input" in str(err.value)
    with pytest.raises(Exception) as err:
        client.predict("caption", "x" * 10_000, api_name="/ablation")
    assert "no such input" in str(err.value)
