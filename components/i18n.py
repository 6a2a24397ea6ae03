"""UI text in English and Simplified Chinese; the browser's language picks one (gr.I18n).

Static labels are translated in the browser from these keys. Messages computed on the
server (errors, warnings) come from pipelines/messages.py in the request's language.
A key must not be one of Gradio's own translation groups ("image", "audio", "chatbot", ...):
the browser would show "[object Object]" instead of the text (tests/test_browser.py checks).
"""

import gradio as gr

EN = {
    "title": "Multimodal LLM demo",
    "subtitle": "Describe images, ask about images and audio, and create images — with open models.",
    "tab_caption": "Caption",
    "tab_vqa": "Ask about an image",
    "tab_image": "Create an image",
    "tab_audio": "Ask about audio",
    "tab_status": "Status",
    "image_input": "Image",
    "audio_input": "Audio clip or microphone",
    "question": "Question",
    "question_placeholder": "Ask something about it…",
    "prompt": "Prompt",
    "prompt_placeholder": "Describe the image you want…",
    "language": "Answer language",
    "describe": "Describe",
    "ask": "Ask",
    "send": "Send",
    "generate": "Generate",
    "stop": "Stop",
    "clear": "New conversation",
    "description": "Description",
    "answer": "Answer",
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
    "status_models": "Models",
    "status_runtime": "Runtime",
    "example_street": "A street with a red house",
    "example_chart": "A bar chart",
    "example_en_speech": "English speech",
    "example_zh_speech": "Chinese speech",
}

ZH = {
    "title": "多模态大模型演示",
    "subtitle": "用开源模型描述图片、就图片和音频提问、生成图片。",
    "tab_caption": "图片描述",
    "tab_vqa": "图片问答",
    "tab_image": "文生图",
    "tab_audio": "音频问答",
    "tab_status": "状态",
    "image_input": "图片",
    "audio_input": "音频文件或麦克风",
    "question": "问题",
    "question_placeholder": "就这张内容提个问题…",
    "prompt": "提示词",
    "prompt_placeholder": "描述你想要的图片…",
    "language": "回答语言",
    "describe": "描述",
    "ask": "提问",
    "send": "发送",
    "generate": "生成",
    "stop": "停止",
    "clear": "新对话",
    "description": "描述",
    "answer": "回答",
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
    "status_models": "模型",
    "status_runtime": "运行环境",
    "example_street": "有红房子的街道",
    "example_chart": "柱状图",
    "example_en_speech": "英文语音",
    "example_zh_speech": "中文语音",
}

I18N = gr.I18n(en=EN, **{"zh-CN": ZH, "zh": ZH})


def t(key: str):
    """A label that the browser shows in its language."""
    if key not in EN:
        raise KeyError(f"no translation for {key!r}")
    return I18N(key)
