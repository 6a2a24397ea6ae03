"""UI text in English and Simplified Chinese; the browser's language picks one (gr.I18n).

Static labels are translated in the browser from these keys. Gradio leaves example captions,
progress text, warnings and errors untranslated, so those are picked on the server in the
request's language: captions with text() below, messages from pipelines/messages.py.
A key must not be one of Gradio's own translation groups ("image", "audio", "chatbot", ...):
the browser would show "[object Object]" instead of the text (tests/test_browser.py checks).
"""

import gradio as gr

EN = {
    "title": "## Multimodal LLM demo",
    "subtitle": "Describe images, ask about images and audio, and create images — with open models.",
    "tab_caption": "Caption",
    "tab_vqa": "Ask about an image",
    "tab_image": "Create an image",
    "tab_audio": "Ask about audio",
    "tab_status": "Status",
    "image_input": "Image",
    "more_images": "More images for the same question (compare, several pages)",
    "audio_input": "Audio clip or microphone",
    "question": "Question",
    "question_placeholder": "Ask something about the image… (Enter sends, Shift+Enter adds a line)",
    "audio_question_placeholder": "Ask something about the clip… (Enter sends, Shift+Enter adds a line)",
    "prompt": "Prompt",
    "prompt_placeholder": "Describe the image you want… (Enter draws, Shift+Enter adds a line)",
    "language": "Answer language",
    "describe": "Describe",
    "ask": "Ask",
    "generate": "Generate",
    "stop": "Stop",
    "busy_describe": "Describing…",
    "busy_answer": "Answering…",
    "busy_draw": "Drawing…",
    "page_language": "Page language",
    "clear": "New conversation",
    "clear_inputs": "Clear",
    "reuse_seed": "Reuse this seed",
    "description": "Description",
    "answer": "Answer",
    "speak_answer": "Speak the answer",
    "voice_choice": "Voice",
    "spoken_answer": "Spoken answer",
    "download_wav": "Download the spoken answer (wav)",
    "speech_text_only": "Text only here: the answers come from an OpenAI-compatible engine, the model cannot speak, "
                        "or speech does not fit this machine's memory (see the notice above).",
    "conversation": "Conversation",
    "images": "Images",
    "seed": "Seed (-1 = random)",
    "seed_used": "Seed used",
    "num_images": "Number of images",
    "size": "Size (pixels; the model draws at 384 and resamples)",
    "guidance": "Guidance scale",
    "settings": "Settings",
    "examples": "Examples",
    "status_refresh": "Refresh",
    "status_panel": "All details (JSON, as the /status API returns them)",
    "example_street": "A street with a red house",
    "example_chart": "A bar chart (answer in Chinese)",
    "example_house_colour": "Street: what colour is the house?",
    "example_highest_bar": "Chart: which bar is highest? (in Chinese)",
    "example_watercolour": "A red house, watercolour",
    "example_dog": "A dog running in the rain, oil painting (in Chinese)",
    "example_en_speech": "English speech: what is it about?",
    "example_zh_speech": "Chinese speech: what was said?",
    # issue 17: how the model saw, heard and drew (components/explain.py, text_to_image.py)
    "explain": "Show attention · token budget",
    "explain_words": "Click a word of the answer (tick “span” to mark several)",
    "explain_span": "Span: the next click extends the selection",
    "explain_first_layer": "From layer",
    "explain_last_layer": "To layer",
    "explain_heads": "Heads",
    "explain_heads_mean": "Mean",
    "explain_heads_max": "Max",
    "explain_heatmap": "What the selected words attended to",
    "explain_raw": "Raw attention (JSON, as the /attention API returns it)",
    "describe_drawing": "Describe this drawing (Caption tab)",
    # the video tab
    "tab_video": "Ask about a video",
    "video_input": "Video (upload or record)",
    "video_sound": "Let the model hear the sound track",
    "video_question_placeholder": "Ask something about the video… (Enter sends, Shift+Enter adds a line)",
    "example_video_en": "Street video: what happens, what is said?",
    "example_video_zh": "Street video, Chinese speech (ask in Chinese)",
    # --- chatux (issue 26) ---
    # Gradio's own keys, as its English table has them (ZH supplies what its zh-CN table lacks).
    "common.complete": "Complete",
    "common.progress": "Progress",
    "status.queue_position": "In queue: {position} of {size}",
}

ZH = {
    "title": "## 多模态大模型演示",
    "subtitle": "用开源模型描述图片、就图片和音频提问、生成图片。",
    "tab_caption": "图片描述",
    "tab_vqa": "图片问答",
    "tab_image": "文生图",
    "tab_audio": "音频问答",
    "tab_status": "状态",
    "image_input": "图片",
    "more_images": "同一问题的更多图片（对比、多页）",
    "audio_input": "音频文件或麦克风",
    "question": "问题",
    "question_placeholder": "就这张图片提个问题…（Enter 发送，Shift+Enter 换行）",
    "audio_question_placeholder": "就这段音频提个问题…（Enter 发送，Shift+Enter 换行）",
    "prompt": "提示词",
    "prompt_placeholder": "描述你想要的图片…（Enter 生成，Shift+Enter 换行）",
    "language": "回答语言",
    "describe": "描述",
    "ask": "提问",
    "generate": "生成",
    "stop": "停止",
    "busy_describe": "正在描述…",
    "busy_answer": "正在回答…",
    "busy_draw": "正在绘制…",
    "page_language": "界面语言",
    "clear": "新对话",
    "clear_inputs": "清除",
    "reuse_seed": "复用此种子",
    "description": "描述",
    "answer": "回答",
    "speak_answer": "朗读回答",
    "voice_choice": "音色",
    "spoken_answer": "语音回答",
    "download_wav": "下载语音回答（wav）",
    "speech_text_only": "此处只有文字回答：回答来自 OpenAI 兼容引擎、模型不能朗读，或本机内存放不下朗读（见上方提示）。",
    "conversation": "对话",
    "images": "图片",
    "seed": "随机种子（-1 为随机）",
    "seed_used": "实际种子",
    "num_images": "图片数量",
    "size": "尺寸（像素；模型以 384 绘制后缩放）",
    "guidance": "引导系数",
    "settings": "设置",
    "examples": "示例",
    "status_refresh": "刷新",
    "status_panel": "全部详情（JSON，与 /status 接口返回的相同）",
    "example_street": "有红房子的街道（英文回答）",
    "example_chart": "柱状图",
    "example_house_colour": "街道：房子是什么颜色？（英文提问）",
    "example_highest_bar": "图表：哪个柱子最高？",
    "example_watercolour": "红房子，水彩（英文提示词）",
    "example_dog": "雨中奔跑的小狗，油画",
    "example_en_speech": "英文语音：讲了什么？",
    "example_zh_speech": "中文语音：说了什么？",
    "explain": "显示注意力 · 令牌预算",
    "explain_words": "点击回答中的一个词（勾选“范围”可选多个）",
    "explain_span": "范围：下一次点击扩展选区",
    "explain_first_layer": "起始层",
    "explain_last_layer": "结束层",
    "explain_heads": "注意力头",
    "explain_heads_mean": "平均",
    "explain_heads_max": "最大",
    "explain_heatmap": "所选词关注了哪里",
    "explain_raw": "原始注意力（JSON，与 /attention 接口返回的相同）",
    "describe_drawing": "描述这张画（图片描述页）",
    # 视频问答
    "tab_video": "视频问答",
    "video_input": "视频（上传或录制）",
    "video_sound": "让模型听到视频的声音",
    "video_question_placeholder": "就这段视频提个问题…（Enter 发送，Shift+Enter 换行）",
    "example_video_en": "街道视频：发生了什么？说了什么？（英文提问）",
    "example_video_zh": "街道视频（中文语音）",
    # --- chatux (issue 26) ---
    # Gradio's own keys that its zh-CN table lacks: a screen reader heard "common.complete" after each run.
    "common.complete": "完成",
    "common.progress": "进度",
    "status.queue_position": "排队中：第 {position} 位，共 {size} 位",
}

I18N = gr.I18n(en=EN, **{"zh-CN": ZH, "zh": ZH})


def t(key: str):
    """A label that the browser shows in its language."""
    if key not in EN:
        raise KeyError(f"no translation for {key!r}")
    return I18N(key)


def text(key: str, lang: str) -> str:
    """The same label as plain text in `lang` ('en' or 'zh'), for what the browser leaves alone."""
    return (ZH if lang == "zh" else EN)[key]
