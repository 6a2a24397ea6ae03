"""Every word a person reads from this app, in English and Simplified Chinese: one catalogue for both layers.

LABELS are the page's static labels: the browser translates them (gr.I18n in components/i18n.py), so a
key must not be one of Gradio's own translation groups ("image", "audio", "chatbot", ...) or the browser
shows "[object Object]" (tests/test_browser.py checks). MESSAGES are what the server writes in the
request's language, because Gradio leaves them untranslated: errors and notices (pipelines raise a key
and its parameters, see pipelines/errors.py), the Status panel, the header. Plain data, no gradio or
torch import: pipelines and components both read it (tests/test_catalogue.py checks that every key has
both languages and the same placeholders).
"""

from dataclasses import dataclass, field

LANGS = ("en", "zh")

LABELS = {
    "en": {
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
        "speech_text_only": "Text only here: the answers come from an OpenAI-compatible engine, the model cannot "
                            "speak, or speech does not fit this machine's memory (see the notice above).",
        "conversation": "Conversation",
        "images": "Images",
        "seed": "Seed (-1 = random)",
        "advanced": "Advanced",
        "preset": "Preset (fills the fields below)",
        "preset_default": "Default (the most likely answer)",
        "preset_short": "Short answer",
        "preset_detailed": "Detailed",
        "preset_blind": "Describe for a blind reader",
        "preset_creative": "Creative (sampled)",
        "system_prompt": "System prompt",
        "system_prompt_info": "The model's standing instructions. Empty: the model's own.",
        "system_prompt_locked_info": "Locked while “Speak the answer” is on: Qwen2.5-Omni speaks reliably only "
                                     "with its own system prompt (its model card says so).",
        "temperature": "Temperature (0 = always the most likely word)",
        "top_p": "Top-p (when sampling)",
        "top_k": "Top-k (when sampling; 0 = off)",
        "repetition_penalty": "Repetition penalty (1 = none)",
        "max_new_tokens": "Longest answer (tokens)",
        "answer_seed": "Seed (when sampling; -1 = random)",
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
        # Gradio's own keys, as its English table has them (zh supplies what its zh-CN table lacks).
        "common.complete": "Complete",
        "common.progress": "Progress",
        # Gradio's own keys that none of its tables has (a gallery's upload and webcam buttons): read as the key.
        "common.upload": "Upload",
        "common.video": "Video",
        "common.webcam": "Webcam",
        "image.no_webcam_support": "This browser cannot use a webcam here.",
        # --- search (issue 29): begin ---
        "tab_search": "Search by meaning",
        "search_text_mode": "Words → pictures",
        "search_image_mode": "Picture → pictures and words",
        "search_matrix_mode": "Contrast: pictures × words",
        "search_query": "Describe what you look for (English or Chinese)",
        "search_query_placeholder": "e.g. a red house · 一栋红房子 (Enter searches)",
        "search_uploads": "Add your own images or videos to the gallery (optional)",
        "search_run": "Search",
        "search_top_k": "Results shown",
        "busy_search": "Searching…",
        "search_results": "Best matches (cosine similarity)",
        "search_scores": "Ranking",
        "search_image": "Picture to match",
        "search_labels": "Labels to try (one per line or comma-separated)",
        "search_label_scores": "Which label fits (SigLIP: a probability per label, not shares of 1)",
        "search_matrix_images": "Pictures (rows I1, I2, …)",
        "search_matrix_texts": "Texts (columns T1, T2, …; one per line)",
        "search_matrix_run": "Compare",
        "search_matrix": "Similarity matrix (darker = more alike)",
        "search_gallery_note": "The gallery: this app's sample pictures and videos, the server's folder (--gallery) "
                               "and what you add here. Each file is embedded once and cached by its content.",
        # --- search (issue 29): end ---
        # --- compare (issue 30, parts 2 and 3): begin ---
        "ablation": "What each input contributed · rerun without one",
        "ablation_leave_out": "Leave out",
        "ablation_run": "Rerun without it",
        "ablation_original": "Original answer",
        "ablation_without": "Answer without it",
        "ablation_diff": "Word by word (red: only in the original; green: only in the new answer)",
        "tab_compare": "Compare models",
        "compare_run": "Ask both",
        "busy_compare": "Both answering…",
        "compare_answer": "Answer",
        # --- compare (issue 30, parts 2 and 3): end ---
    },
    "zh": {
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
        "advanced": "高级",
        "preset": "预设（填入下面各项）",
        "preset_default": "默认（最可能的回答）",
        "preset_short": "简短回答",
        "preset_detailed": "详细回答",
        "preset_blind": "为视障用户描述",
        "preset_creative": "更有创意（采样）",
        "system_prompt": "系统提示词",
        "system_prompt_info": "模型的常设指令。留空：使用模型自带的。",
        "system_prompt_locked_info": "“朗读回答”开启时锁定：Qwen2.5-Omni 只有用它自带的系统提示词才能可靠地朗读（其模型卡如此说明）。",
        "temperature": "温度（0 = 总是选最可能的词）",
        "top_p": "Top-p（采样时）",
        "top_k": "Top-k（采样时；0 = 关闭）",
        "repetition_penalty": "重复惩罚（1 = 不惩罚）",
        "max_new_tokens": "回答最长（token 数）",
        "answer_seed": "随机种子（采样时；-1 为随机）",
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
        "common.upload": "上传",
        "common.video": "视频",
        "common.webcam": "摄像头",
        "image.no_webcam_support": "此浏览器在这里无法使用摄像头。",
        # --- search (issue 29): begin ---
        "tab_search": "图文检索",
        "search_text_mode": "以文搜图",
        "search_image_mode": "以图搜图 · 零样本分类",
        "search_matrix_mode": "对比：图片 × 文本",
        "search_query": "描述你要找的内容（中文或英文）",
        "search_query_placeholder": "例如：一栋红房子 · a red house（回车搜索）",
        "search_uploads": "把你自己的图片或视频加入图库（可选）",
        "search_run": "搜索",
        "search_top_k": "显示结果数",
        "busy_search": "正在搜索…",
        "search_results": "最匹配的结果（余弦相似度）",
        "search_scores": "排名",
        "search_image": "要匹配的图片",
        "search_labels": "候选标签（每行一个或用逗号分隔）",
        "search_label_scores": "哪个标签最合适（SigLIP：每个标签各自的概率，总和不必为 1）",
        "search_matrix_images": "图片（行 I1、I2…）",
        "search_matrix_texts": "文本（列 T1、T2…；每行一个）",
        "search_matrix_run": "对比",
        "search_matrix": "相似度矩阵（颜色越深越相似）",
        "search_gallery_note": "图库：本应用的示例图片和视频、服务器文件夹（--gallery）以及你在此添加的文件。"
                               "每个文件只计算一次嵌入，按内容缓存。",
        # --- search (issue 29): end ---
        # --- compare (issue 30, parts 2 and 3): begin ---
        "ablation": "各输入的作用 · 去掉一项重新回答（消融对比）",
        "ablation_leave_out": "去掉",
        "ablation_run": "去掉后重新回答",
        "ablation_original": "原回答",
        "ablation_without": "去掉后的回答",
        "ablation_diff": "逐词对比（红色：仅原回答有；绿色：仅新回答有）",
        "tab_compare": "模型对比",
        "compare_run": "两个模型一起回答",
        "busy_compare": "两个模型回答中…",
        "compare_answer": "回答",
        # --- compare (issue 30, parts 2 and 3): end ---
    },
}

# The rest of Gradio's own keys (6.31) that its English table has and its zh-CN table lacks: the Chinese page
# read them in English, or as the raw key ("status.queue_position" in the screen reader's queue notice).
# Gradio formats these itself, so they keep its placeholders; the browser gets them with the labels
# (components/i18n.py), tests/test_browser_polish.py compares them with Gradio's own tables.
GRADIO_ZH = {
    "audio.recording_error": "无法从麦克风开始录音。",
    "chat_interface.new_chat": "新对话",
    "chat_interface.message_placeholder": "输入消息…",
    "chat_interface.additional_inputs": "更多输入",
    "chat_interface.chatbot": "聊天机器人",
    "chat_interface.conversation": "对话",
    "chatbot.complete": "完成",
    "chatbot.copy_message": "复制消息",
    "chatbot.copied_message": "已复制消息",
    "common.download_all": "全部下载",
    "common.runs": "运行记录",
    "common.runs_description": "查看保存在此浏览器中的运行记录",
    "common.back_to_app": "应用",
    "common.back_to_app_description": "返回应用",
    "common.record": "录制",
    "common.stop_recording": "停止录制",
    "common.screen_studio": "屏幕录制工作室",
    "common.share_gradio_tab": "[分享] Gradio 标签页",
    "common.run": "运行",
    "dataframe.import_empty_file": "拖入的文件是空的。",
    "dataframe.import_no_column_names": "拖入的文件没有列名。",
    "dataframe.import_ragged_row": "文件第 {line} 行有 {fields} 个字段，表头有 {columns} 个。",
    "dataframe.import_static_columns": "无法导入到含只读列的表格。",
    "dataframe.import_fixed_columns": "此表格恰好需要 {expected} 列，文件有 {actual} 列。",
    "dataframe.import_fixed_rows": "此表格恰好需要 {expected} 行，文件有 {actual} 行。",
    "dataframe.filter": "筛选",
    "dataframe.clear_filter": "清除筛选",
    "image_editor.add_layer": "添加图层",
    "image_editor.brush": "画笔",
    "image_editor.brush_size": "画笔大小",
    "image_editor.clear_canvas": "清空画布",
    "image_editor.color": "颜色",
    "image_editor.confirm_crop": "确认裁剪",
    "image_editor.crop": "裁剪",
    "image_editor.erase": "擦除",
    "image_editor.eraser_size": "橡皮擦大小",
    "image_editor.fit_to_screen": "适应屏幕",
    "image_editor.layer": "图层",
    "image_editor.layers": "图层",
    "image_editor.pan": "平移",
    "image_editor.paste": "粘贴",
    "image_editor.redo": "重做",
    "image_editor.resize": "调整大小",
    "image_editor.save_changes": "保存更改",
    "image_editor.select_draw_tool": "选择绘图工具即可开始",
    "image_editor.show_layers": "显示图层",
    "image_editor.upload": "上传",
    "image_editor.upload_image": "上传图片",
    "image_editor.webcam": "摄像头",
    "image_editor.zoom_in": "放大",
    "image_editor.zoom_out": "缩小",
    "status.queue_position": "排队中：第 {position} 位，共 {size} 位",
}

MESSAGES = {
    "en": {
        "no_image": "Please add an image first.",
        "file_missing": "The file is not among this app's uploads (or has expired); please upload it again.",
        "empty_file": "The file is empty (0 bytes).",
        "file_too_big": "The file is {size:.1f} MB; the limit is {limit:g} MB.",
        "image_bomb": "The image is too large to open safely (limit {limit:,} pixels). Please resize it.",
        "image_too_big": "The image is {w}×{h} pixels; the limit is {limit:,} pixels. Please resize it.",
        "wrong_file_image": "This file is not an image: please choose a PNG, JPEG, GIF, WebP, BMP or TIFF file.",
        "wrong_file_audio": "This file is not a sound recording: please choose a WAV, FLAC, OGG or MP3 file.",
        "wrong_file_video": "This file is not a video: please choose an MP4, WebM, MOV, MKV or AVI file.",
        "wrong_file": "This kind of file cannot be used here: please choose another file.",
        "not_image": "The file is not a readable image (supported: PNG, JPEG, GIF, WebP, BMP, TIFF).",
        "image_broken": "The image file is damaged or incomplete (truncated?). Please upload it again.",
        "image_aspect": "The image is {w}×{h} pixels, too long and thin (over {limit}:1). Please crop it.",
        "no_pixels": "The image has no pixels.",
        "no_audio": "Please record or upload an audio clip first.",
        "not_audio": "The file is not readable audio (supported: WAV, FLAC, OGG, MP3 and more).",
        "audio_too_short": "The audio clip is empty or shorter than 0.1 s.",
        "audio_invalid": "The audio clip contains invalid samples.",
        "audio_format_limits": "The audio has {channels} channels at {rate:,} Hz; this demo takes at most "
                               "{max_channels} channels and {max_rate:,} Hz. Please convert it (e.g. to 48 kHz stereo).",
        "audio_trimmed": "The clip is {seconds:.0f} s long; only the first {limit:.0f} s were used.",
        "no_question": "Please type a question.",
        "too_many_images": "{count} images in one question; the limit is {limit}.",
        "too_many_waiting": "{limit} questions are already waiting for an answer; please wait for them.",
        "client_queue_full": "You already have {count} requests waiting; the rest of the queue is kept for others. "
                             "Please wait for yours to finish before sending more.",
        "stop_returned": "Stopped. {count} question(s) not answered yet are back in the question box.",
        "new_image_new_talk": "A new image: the conversation starts over.",
        "new_video_new_talk": "A new video: the conversation starts over.",
        "no_prompt": "Please describe the image you want.",
        "text_too_long": "The text is {length:,} characters long; the limit is {limit:,}.",
        "prompt_rejected": "The model cannot read this request as it is (markup such as <|...|> or a file it "
                           "cannot take). Please rephrase it or use another file.",
        "bad_max_tokens": "max_new_tokens must be between 1 and {limit}.",
        "bad_setting": "{field} must be a number from {low} to {high}.",
        "bad_setting_integer": "{field} must be a whole number from {low} to {high}.",
        "bad_system_prompt": "The system prompt must be text.",
        "system_prompt_too_long": "The system prompt is {chars:,} characters long; the limit is {limit:,}.",
        "system_prompt_locked": "The system prompt cannot change while the answer is spoken: Qwen2.5-Omni speaks "
                                "reliably only with its own system prompt. Leave it empty, or turn speech off.",
        "field_temperature": "Temperature",
        "field_top_p": "Top-p",
        "field_top_k": "Top-k",
        "field_repetition_penalty": "The repetition penalty",
        "field_max_new_tokens": "The longest answer (max_new_tokens)",
        "field_seed": "The seed",
        "bad_numbers": "Seed, number of images, size and guidance must be numbers.",
        "bad_seed": "The seed must be between 0 and 4294967295 (or -1 for a random one).",
        "bad_num_images": "The number of images must be between 1 and {limit}.",
        "bad_size": "The size must be one of {sizes} pixels.",
        "bad_guidance": "The guidance scale must be between {low:g} and {high:g}.",
        "cannot_do": "The model {model} cannot do this task; choose another one with {flag}.",
        "oom": "The model ran out of memory on this request. Try a smaller image, a shorter clip or fewer "
               "new tokens, then send it again.",
        "model_failed": "The model failed on this request ({kind}). Please try again.",
        "voice_file_missing": "The checkpoint {model} has no voices file (spk_dict.pt), so it cannot speak.",
        "no_such_voice": "There is no voice named {voice}; choose one of: {voices}.",
        "cannot_speak": "The model {model} answers in text only; spoken answers need a Qwen2.5-Omni checkpoint.",
        "speech_remote": "Spoken answers need the model in this process; with --backend openai answers are text only.",
        "speech_load_failed": "The speech parts of {model} could not be loaded: {reason}",
        "speech_failed": "The answer could not be spoken ({reason}); the text answer above is complete.",
        "speech_cut": "The spoken answer stops at {limit:g} s (--max-speech-seconds); the text has it all.",
        "load_failed": "Could not load model '{model}': {reason}",
        "reason_load": "{error} Check the id, your network, or HF_HUB_OFFLINE and the local cache.",
        "reason_family": "it is a '{model_type}' model; this demo runs {families} models.",
        "reason_no_cuda": "--device cuda was asked for, but no CUDA GPU is visible; use --device cpu.",
        "reason_choose_another": "{reason} Choose another with {flags}, or run `python app.py --tiny` for offline "
                                 "test models.",
        # --- quantize (issue 31): begin ---
        "quantize_unknown": "--quantize {mode} is not a mode this app knows; choose one of {modes}.",
        "quantize_missing": "--quantize {mode} needs the bitsandbytes package, which is not installed. Fix: "
                            "`pip install {install}` (or add it to requirements.txt on a Space), or start with "
                            "--quantize none.",
        "quantize_device": "--quantize {mode} cannot run on this device ({device}): bitsandbytes says \"{reason}\". "
                           "Fix: start with --quantize none, or choose another --device.",
        "quantized_checkpoint_missing": "The checkpoint '{model}' is already quantized ({method}); loading it needs "
                                        "a package that is not installed: {install}. Install it, or choose a "
                                        "checkpoint that is not pre-quantized.",
        # --- quantize (issue 31): end ---
        "internal": "Something went wrong on the server. Please try again.",
        "drawing": "Drawing",
        "error_title": "Error",
        "warning_title": "Warning",
        "info_title": "Info",
        "backend_down": "The model server is not reachable right now. Please try again in a moment.",
        "backend_timeout": "The model server did not answer within {seconds:g} s; it may be overloaded. "
                           "Please try again.",
        "backend_auth": "The model server refused this demo's API key (HTTP {status}). The operator should check "
                        "--api-key / MMDEMO_API_KEY.",
        "backend_rejected": "The model server rejected the request (HTTP {status}): {detail}",
        "backend_failed": "The model server failed on this request ({detail}). Please try again.",
        "detail_unreadable_stream": "unreadable stream",
        "backend_busy": "The model server is busy (HTTP {status}). Please try again in a moment.",
        "backend_broken": "The model server's answer broke off midway. Please try again.",
        "bad_backend": "Unknown backend '{backend}'; choose one of: {choices}.",
        "no_endpoint": "--backend openai needs --endpoint URL (or MMDEMO_ENDPOINT), e.g. http://127.0.0.1:8000/v1.",
        "gpu_unused": "An NVIDIA GPU is present but PyTorch cannot use it (torch {torch}, CUDA {cuda}): the models "
                      "run on the CPU, in float32 and far slower. Fix: update the NVIDIA driver to one that supports "
                      "CUDA {cuda}, or install the torch build for your driver (pytorch.org/get-started); "
                      "`--device cpu` says the CPU is meant.",
        "space_gpu_unused": "This Space runs on {hardware} hardware but PyTorch sees no GPU (torch {torch}, "
                            "CUDA {cuda}): the models run on the CPU. Fix: pin a torch release ZeroGPU supports in "
                            "requirements.txt ({supported}) with its torchvision, then restart the Space.",
        "memory_short": "The models need about {need:.1f} GB of {where} for their weights and the largest request "
                        "({models}), and about "
                        "{have:.1f} GB is free: loading will probably fail. Fix: a GPU with more memory, fewer or "
                        "smaller checkpoints (--single-model, --caption-model ...), or --tiny to try the app.",
        "memory_speech_off": "Spoken answers are off: the talker and token2wav ({speech:.1f} GB) and the largest "
                             "request would need about {need:.1f} GB of {where}, and about {have:.1f} GB is free. "
                             "Answers are text only; a GPU with more memory turns speech on.",
        "memory_video_lowered": "Videos are read for at most {seconds:g} s ({frames} frames) instead of {was:g} s: a "
                                "longer video would not fit the {have:.1f} GB of free {where} beside the models. Set "
                                "--max-video-seconds / --max-video-frames lower still to silence this.",
        "memory_model_off": "{model} ({size:.1f} GB) is not loaded: it would not fit the {have:.1f} GB of free "
                            "{where} beside the other models and the largest request. Its tab ({tabs}) answers with "
                            "this message.",
        "model_off": "This tab is off on this machine: {model} does not fit its memory beside the other models.",
        "speech_off": "Spoken answers are off on this machine: they would not fit its memory (Status says more).",
        "hub_unreachable": "Could not load model '{model}': the Hugging Face Hub ({endpoint}) cannot be reached and "
                           "the model is not in the local cache. Fix: connect to the network and start again (set "
                           "HF_HUB_OFFLINE=1 once it is downloaded), choose a local folder with {flags}, or run "
                           "`python app.py --tiny` for offline test models.",
        "not_cached_offline": "Could not load model '{model}': HF_HUB_OFFLINE=1 and the model is not in the local "
                              "cache. Fix: download it once with the network on (unset HF_HUB_OFFLINE), choose a "
                              "local folder with {flags}, or run `python app.py --tiny` for offline test models.",
        "no_folder": "Could not load model '{model}': the local folder does not exist. Fix: check the path given "
                     "to {flags}.",
        "bad_image_value": "The image must be a file uploaded to this app (handle_file() in gradio_client), a "
                           "base64 data: URL or a public http(s) link.",
        "bad_audio_value": "The audio must be a file uploaded to this app (handle_file() in gradio_client) or a "
                           "public http(s) link.",
        "bad_history_value": "The history must be a list of messages ({{\"role\": \"user\" or \"assistant\", "
                             "\"content\": ...}}) as the last answer returned it, or [] to start.",
        "bad_value": "A value sent does not have the type this endpoint expects (see \"Use via API\" on the page).",
        "bad_switch": "An on/off option (speak, sound) takes true or false, not {value}.",
        "no_such_endpoint": "This app has no such endpoint (api_name or fn_index); see \"Use via API\" on the page.",
        "upload_needs_name": "Every uploaded file needs a file name.",
        "link_failed": "The link could not be fetched: only public http(s) addresses that answer are accepted.",
        "login_required": "Please log in first.",
        "too_many_logins": "Too many failed logins from this address; try again in {seconds} s.",
        "body_too_large": "The request is {size:.1f} MB; the limit is {limit:.1f} MB (upload files with "
                          "/gradio_api/upload or handle_file() instead of sending them inside the request).",
        "too_many_requests": "Too many requests from this address; try again in {seconds} s.",
        "upload_too_large": "The upload is {size:.1f} MB; one upload may be at most {limit:.1f} MB.",
        "audio_no_rate": "The audio file says its sample rate is 0 Hz; it is damaged. Please export it again.",
        "explain_placeholder": "This answer holds a media placeholder token the model wrote itself, so its "
                               "attention cannot be shown; ask again for a new answer.",
        "explain_none": "Nothing to explain yet: ask something on this tab first (attention needs a model run here).",
        "explain_pick": "Click a word of the answer to see what it attended to.",
        "bad_layers": "Layers go from 0 to {last}, the first not after the last.",
        "bad_heads": "Heads are combined by one of: {choices}.",
        "bad_span": "The answer has {count} words; pick a span between 0 and {last}.",
        "attention_too_long": "This conversation is {tokens:,} tokens long; the attention view fits {limit:,} tokens "
                              "in the memory free now. Ask in a shorter conversation (fewer turns, a smaller image "
                              "or a shorter clip) to see its attention.",
        "budget_title": "Token budget",
        "budget_input": "Input",
        "budget_tokens": "Tokens",
        "budget_image": "image {n}: {rows}×{cols} tokens ({prows}×{pcols} patches)",
        "budget_video": "video {n}: {frames} × {rows}×{cols} tokens",
        "budget_audio": "audio {n}: {seconds:g} s at {rate:g} tokens/s",
        "budget_text": "text (question, instructions, markup)",
        "budget_context": "Context used: {used:,} of {max:,} tokens ({share:.2%})",
        "budget_generated": "Generated: {n} tokens, {ms:.1f} ms per token",
        "budget_generated_untimed": "Generated: {n} tokens",
        # the video tab (pipelines/video_input.py, pipelines/tasks/video.py)
        "no_video": "Please upload or record a video first.",
        "not_video": "The file is not a readable video (supported: MP4, WebM, MOV, MKV, AVI and more).",
        "video_no_picture": "The file holds sound but no pictures; use the audio tab for it.",
        "video_frame_too_big": "The video is {w}×{h} pixels per frame; the limit is {limit:,} pixels. Please "
                               "scale it down.",
        "video_broken": "The video could not be decoded (damaged, truncated, or a codec this demo cannot read). "
                        "Please re-encode it, e.g. to H.264 MP4.",
        "video_trimmed": "The video is {seconds:.0f} s long; only the first {used:.0f} s were used ({frames} frames).",
        "video_no_sound": "This video has no sound track: the answer comes from its pictures only.",
        "bad_video_value": "The video must be a file uploaded to this app (handle_file() in gradio_client) or a "
                           "public http(s) link.",
        # the Status tab's readable panel (components/status_panel.py)
        "status_models": "Models", "status_loaded": "loaded",
        "status_not_loaded": "not loaded yet (loads on first use)",
        "status_tasks": "tasks", "status_params": "parameters", "status_load": "loaded in", "status_device": "Device",
        "status_gpu": "GPU", "status_cpu": "CPU only", "status_threads": "CPU threads", "status_memory": "Memory",
        "status_rss": "this process", "status_cuda": "GPU memory in use", "status_peak": "peak", "status_of": "of",
        "status_queue": "Queue", "status_running": "running", "status_waiting": "waiting", "status_limit": "at once",
        "status_max": "room for", "status_drawing": "drawings", "status_versions": "Versions",
        "status_engine": "served by an OpenAI-compatible engine as",
        "status_speech": "speech (talker + token2wav)",
        "status_speech_off": "speech not loaded (loads on the first spoken answer)",
        # --- quantize (issue 31): begin ---
        "status_weights": "weights",
        "status_quantized": "quantized",
        # --- quantize (issue 31): end ---
        # the page's header (components/header.py)
        "header_models": "Models", "header_caption": "caption", "header_vqa": "image chat", "header_audio": "audio",
        "header_video": "video", "header_image": "drawing", "header_on": "runs on", "header_cpu": "CPU",
        "header_engine": "an OpenAI-compatible engine",
        "header_tiny": "⚠️ **Tiny random-weight models** (`--tiny`): answers are gibberish and drawings are noise. "
                       "They only show that every part works; run without `--tiny` for the real models.",
        # --- chatux (issue 26) ---
        "budget_patches": "An image is cut into small square patches; each {merge}×{merge} patches become one token "
                          "the model reads (rows × columns).",
        # --- search (issue 29): begin ---
        "no_query": "Please type what to search for.",
        "no_labels": "Please type at least one text (one per line).",
        "too_many_labels": "{count} labels or texts; the limit is {limit}.",
        "gallery_too_big": "{count} files added to the gallery; the limit is {limit}.",
        "gallery_cut": "The gallery has more than {limit:,} files; the first {limit:,} were searched.",
        "bad_top_k": "The number of results must be between 1 and {limit}.",
        "search_not_media": "The gallery takes images (png, jpg, webp, bmp, gif) and videos (mp4, webm, mov, mkv, avi).",
        "header_search": "search",
        # --- search (issue 29): end ---
        # --- compare (issue 30, parts 2 and 3): begin ---
        "ablation_image": "the image(s)",
        "ablation_audio": "the audio clip",
        "ablation_video": "the video",
        "ablation_video_sound": "the video's sound",
        "ablation_video_frames": "the video's frames (its sound kept)",
        "ablation_history": "the earlier turns",
        "ablation_nothing": "This answer has no input to leave out but its question.",
        "ablation_absent": "The last answer has no such input; it can leave out: {choices}.",
        "ablation_pick": "Pick what to leave out, then rerun.",
        "ablation_score": "**How likely the original answer is** (teacher-forced, {tokens} tokens): with {what} "
                          "{with_mean:.3f} per token ({with_total:.2f} in all), without it {without_mean:.3f} "
                          "({without_total:.2f}): a change of **{change:+.3f}** per token ({verdict}). "
                          "The answers share {similarity:.0%} of their words; the prompt went from {before:,} "
                          "to {after:,} tokens.",
        "ablation_score_empty": "The original answer is empty: there is nothing to score.",
        "ablation_helped": "{what} made it likelier",
        "ablation_hindered": "it is likelier without {what}",
        "header_compare": "compared",
        "compare_stats": "{tokens} tokens in {seconds:.2f} s ({rate:.1f} tokens/s, first after {first:.2f} s)",
        "compare_off": "No second model is configured (--compare-model).",
        "compare_too_big": "--compare-model {model} does not fit beside the other models: {need:.1f} GB needed "
                           "({parts}), {have:.1f} GB of {where} free; without it {alone:.1f} GB. Choose a smaller "
                           "checkpoint or run without --compare-model.",
        # --- compare (issue 30, parts 2 and 3): end ---
    },
    "zh": {
        "no_image": "请先添加一张图片。",
        "file_missing": "在本应用的上传文件中找不到该文件（或已过期），请重新上传。",
        "empty_file": "文件是空的（0 字节）。",
        "file_too_big": "文件大小为 {size:.1f} MB，上限为 {limit:g} MB。",
        "image_bomb": "图片太大，无法安全打开（上限 {limit:,} 像素）。请缩小后再试。",
        "image_too_big": "图片为 {w}×{h} 像素，上限为 {limit:,} 像素。请缩小后再试。",
        "wrong_file_image": "该文件不是图片：请选择 PNG、JPEG、GIF、WebP、BMP 或 TIFF 文件。",
        "wrong_file_audio": "该文件不是音频：请选择 WAV、FLAC、OGG 或 MP3 文件。",
        "wrong_file_video": "该文件不是视频：请选择 MP4、WebM、MOV、MKV 或 AVI 文件。",
        "wrong_file": "此处不能使用这种文件：请选择其他文件。",
        "not_image": "无法读取该图片文件（支持 PNG、JPEG、GIF、WebP、BMP、TIFF）。",
        "image_broken": "图片文件已损坏或不完整（可能被截断）。请重新上传。",
        "image_aspect": "图片为 {w}×{h} 像素，过于细长（超过 {limit}:1）。请裁剪后再试。",
        "no_pixels": "图片没有像素。",
        "no_audio": "请先录音或上传一段音频。",
        "not_audio": "无法读取该音频文件（支持 WAV、FLAC、OGG、MP3 等）。",
        "audio_too_short": "音频为空或短于 0.1 秒。",
        "audio_invalid": "音频包含无效的采样值。",
        "audio_format_limits": "音频为 {channels} 个声道、{rate:,} Hz；本演示最多支持 {max_channels} 个声道和 {max_rate:,} Hz。"
                               "请先转换（例如转为 48 kHz 立体声）。",
        "audio_trimmed": "音频长 {seconds:.0f} 秒，只使用了前 {limit:.0f} 秒。",
        "no_question": "请输入问题。",
        "too_many_images": "一个问题附带了 {count} 张图片，上限为 {limit} 张。",
        "too_many_waiting": "已有 {limit} 个问题在等待回答，请稍候。",
        "client_queue_full": "您已有 {count} 个请求在排队；其余队列位置留给其他用户。请等您的请求完成后再发送。",
        "stop_returned": "已停止。{count} 个尚未回答的问题已放回问题框。",
        "new_image_new_talk": "换了图片：对话重新开始。",
        "new_video_new_talk": "换了视频：对话重新开始。",
        "no_prompt": "请描述你想要的图片。",
        "text_too_long": "文本长度为 {length:,} 个字符，上限为 {limit:,}。",
        "prompt_rejected": "模型无法按原样读取此请求（含有 <|...|> 之类的标记，或文件无法处理）。请改写问题或换一个文件。",
        "bad_max_tokens": "max_new_tokens 必须在 1 到 {limit} 之间。",
        "bad_setting": "{field}必须是 {low} 到 {high} 之间的数。",
        "bad_setting_integer": "{field}必须是 {low} 到 {high} 之间的整数。",
        "bad_system_prompt": "系统提示词必须是文字。",
        "system_prompt_too_long": "系统提示词有 {chars:,} 个字符；上限是 {limit:,}。",
        "system_prompt_locked": "朗读回答时不能更改系统提示词：Qwen2.5-Omni 只有用它自带的系统提示词才能可靠地朗读。请留空，或关闭朗读。",
        "field_temperature": "温度",
        "field_top_p": "Top-p",
        "field_top_k": "Top-k",
        "field_repetition_penalty": "重复惩罚",
        "field_max_new_tokens": "回答最长 token 数（max_new_tokens）",
        "field_seed": "随机种子",
        "bad_numbers": "种子、图片数量、尺寸和引导系数必须是数字。",
        "bad_seed": "种子必须在 0 到 4294967295 之间（-1 表示随机）。",
        "bad_num_images": "图片数量必须在 1 到 {limit} 之间。",
        "bad_size": "尺寸必须是以下之一：{sizes} 像素。",
        "bad_guidance": "引导系数必须在 {low:g} 到 {high:g} 之间。",
        "cannot_do": "模型 {model} 不能完成此任务；请用 {flag} 选择其他模型。",
        "oom": "模型处理此请求时内存不足。请换一张更小的图片、更短的音频或更少的生成长度后重试。",
        "model_failed": "模型处理此请求时出错（{kind}）。请重试。",
        "voice_file_missing": "模型 {model} 没有音色文件（spk_dict.pt），无法朗读。",
        "no_such_voice": "没有名为 {voice} 的音色；可选：{voices}。",
        "cannot_speak": "模型 {model} 只能以文字回答；朗读回答需要 Qwen2.5-Omni 模型。",
        "speech_remote": "朗读回答需要在本进程中运行模型；使用 --backend openai 时只有文字回答。",
        "speech_load_failed": "无法加载 {model} 的语音部分：{reason}",
        "speech_failed": "回答无法朗读（{reason}）；上面的文字回答是完整的。",
        "speech_cut": "朗读在 {limit:g} 秒处停止（--max-speech-seconds）；完整内容见文字回答。",
        "load_failed": "无法加载模型“{model}”：{reason}",
        "reason_load": "{error} 请检查模型 id、网络，或 HF_HUB_OFFLINE 与本地缓存。",
        "reason_family": "它是“{model_type}”模型；本演示只运行 {families} 模型。",
        "reason_no_cuda": "指定了 --device cuda，但看不到 CUDA GPU；请改用 --device cpu。",
        "reason_choose_another": "{reason}请用 {flags} 选择其他模型，或运行 `python app.py --tiny` 使用离线测试模型。",
        # --- quantize (issue 31): begin ---
        "quantize_unknown": "本应用不认识 --quantize {mode}；请从 {modes} 中选择。",
        "quantize_missing": "--quantize {mode} 需要 bitsandbytes 包，但它没有安装。解决：`pip install {install}`"
                            "（在 Space 上把它加入 requirements.txt），或用 --quantize none 启动。",
        "quantize_device": "--quantize {mode} 无法在此设备（{device}）上运行：bitsandbytes 报告“{reason}”。"
                           "解决：用 --quantize none 启动，或换一个 --device。",
        "quantized_checkpoint_missing": "检查点“{model}”已经量化（{method}）；加载它需要一个未安装的包：{install}。"
                                        "请安装它，或选择未预先量化的检查点。",
        # --- quantize (issue 31): end ---
        "internal": "服务器出错了，请重试。",
        "drawing": "绘制中",
        "error_title": "错误",
        "warning_title": "警告",
        "info_title": "提示",
        "backend_down": "暂时无法连接模型服务器，请稍后再试。",
        "backend_timeout": "模型服务器在 {seconds:g} 秒内没有响应，可能负载过高，请重试。",
        "backend_auth": "模型服务器拒绝了本演示的 API 密钥（HTTP {status}）。请管理员检查 --api-key / MMDEMO_API_KEY。",
        "backend_rejected": "模型服务器拒绝了此请求（HTTP {status}）：{detail}",
        "backend_failed": "模型服务器处理此请求时出错（{detail}）。请重试。",
        "detail_unreadable_stream": "无法读取的数据流",
        "backend_busy": "模型服务器正忙（HTTP {status}），请稍后再试。",
        "backend_broken": "模型服务器的回答中途中断了，请重试。",
        "bad_backend": "未知的后端“{backend}”；可选：{choices}。",
        "no_endpoint": "--backend openai 需要 --endpoint URL（或 MMDEMO_ENDPOINT），例如 http://127.0.0.1:8000/v1。",
        "gpu_unused": "检测到 NVIDIA 显卡，但 PyTorch 无法使用它（torch {torch}，CUDA {cuda}）：模型正在 CPU 上以 float32 "
                      "运行，速度慢得多。解决：把 NVIDIA 驱动升级到支持 CUDA {cuda} 的版本，或安装适配当前驱动的 torch"
                      "（pytorch.org/get-started）；如确实要用 CPU，请加 `--device cpu`。",
        "space_gpu_unused": "此 Space 使用 {hardware} 硬件，但 PyTorch 检测不到 GPU（torch {torch}，CUDA {cuda}）："
                            "模型正在 CPU 上运行。解决：在 requirements.txt 中固定 ZeroGPU 支持的 torch 版本"
                            "（{supported}）及对应的 torchvision，然后重启 Space。",
        "memory_short": "这些模型的权重加上最大的请求约需 {need:.1f} GB {where}（{models}），目前约有 {have:.1f} GB 可用：加载很可能失败。"
                        "解决：换显存更大的 GPU，减少或换用更小的模型（--single-model、--caption-model 等），"
                        "或用 --tiny 试用界面。",
        "memory_speech_off": "朗读回答已关闭：talker 与 token2wav（{speech:.1f} GB）加上最大的请求约需 {need:.1f} GB {where}，"
                             "目前约有 {have:.1f} GB 可用。回答只有文字；换显存更大的 GPU 即可开启朗读。",
        "memory_video_lowered": "视频最多读取 {seconds:g} 秒（{frames} 帧），而不是 {was:g} 秒：更长的视频放不进模型之外"
                                "剩余的 {have:.1f} GB {where}。把 --max-video-seconds / --max-video-frames 设得更低可消除此提示。",
        "memory_model_off": "{model}（{size:.1f} GB）未加载：加上其他模型和最大的请求，{have:.1f} GB 可用 {where} 放不下它。"
                            "它的标签页（{tabs}）会以此说明作答。",
        "model_off": "此标签页在本机不可用：{model} 与其他模型一起放不进内存。",
        "speech_off": "本机已关闭朗读回答：内存放不下（详见“状态”页）。",
        "hub_unreachable": "无法加载模型“{model}”：连不上 Hugging Face Hub（{endpoint}），本地缓存中也没有该模型。"
                           "解决：联网后重新启动（下载过一次后可设置 HF_HUB_OFFLINE=1），或用 {flags} 指定本地文件夹，"
                           "或运行 `python app.py --tiny` 使用离线测试模型。",
        "not_cached_offline": "无法加载模型“{model}”：已设置 HF_HUB_OFFLINE=1，而本地缓存中没有该模型。解决：联网下载一次"
                              "（取消 HF_HUB_OFFLINE），或用 {flags} 指定本地文件夹，或运行 `python app.py --tiny` "
                              "使用离线测试模型。",
        "no_folder": "无法加载模型“{model}”：本地文件夹不存在。解决：检查传给 {flags} 的路径。",
        "bad_image_value": "图片必须是上传到本应用的文件（gradio_client 中用 handle_file()）、base64 data: URL 或公开的 "
                           "http(s) 链接。",
        "bad_audio_value": "音频必须是上传到本应用的文件（gradio_client 中用 handle_file()）或公开的 http(s) 链接。",
        "bad_history_value": "对话历史必须是消息列表（{{\"role\": \"user\" 或 \"assistant\", \"content\": ...}}），"
                             "即上次返回的对话；新对话用 []。",
        "bad_value": "发送的某个值类型不符合此接口的要求（见页面上的“通过 API 使用”）。",
        "bad_switch": "开关选项（speak、sound）只能是 true 或 false，不能是 {value}。",
        "no_such_endpoint": "本应用没有这个接口（api_name 或 fn_index）；见页面上的“通过 API 使用”。",
        "upload_needs_name": "每个上传的文件都需要文件名。",
        "link_failed": "无法获取该链接：只接受可以访问的公开 http(s) 地址。",
        "login_required": "请先登录。",
        "too_many_logins": "此地址登录失败次数过多，请 {seconds} 秒后再试。",
        "body_too_large": "请求大小为 {size:.1f} MB，上限为 {limit:.1f} MB（请用 /gradio_api/upload 或 handle_file() "
                          "上传文件，而不要放在请求里发送）。",
        "too_many_requests": "此地址的请求过多，请 {seconds} 秒后再试。",
        "upload_too_large": "本次上传为 {size:.1f} MB，单次上传最多 {limit:.1f} MB。",
        "audio_no_rate": "该音频文件的采样率为 0 Hz，文件已损坏，请重新导出。",
        "explain_placeholder": "这个回答里含有模型自己写出的媒体占位符，无法显示其注意力；请重新提问以得到新的回答。",
        "explain_none": "还没有可解释的内容：请先在本页提问（注意力需要在本机运行模型）。",
        "explain_pick": "点击回答中的一个词，查看它关注了哪里。",
        "bad_layers": "层号从 0 到 {last}，起始层不能大于结束层。",
        "bad_heads": "注意力头的合并方式只能是：{choices}。",
        "bad_span": "回答共 {count} 个词；请选择 0 到 {last} 之间的范围。",
        "attention_too_long": "此对话共 {tokens:,} 个词元；以当前空闲内存，注意力视图最多容纳 {limit:,} 个词元。"
                              "请在更短的对话中提问（更少轮次、更小的图片或更短的音频）后再查看注意力。",
        "budget_title": "令牌预算",
        "budget_input": "输入",
        "budget_tokens": "令牌数",
        "budget_image": "图片 {n}：{rows}×{cols} 个令牌（{prows}×{pcols} 个图块）",
        "budget_video": "视频 {n}：{frames} × {rows}×{cols} 个令牌",
        "budget_audio": "音频 {n}：{seconds:g} 秒，每秒 {rate:g} 个令牌",
        "budget_text": "文本（问题、指令、标记）",
        "budget_context": "已用上下文：{used:,} / {max:,} 个令牌（{share:.2%}）",
        "budget_generated": "已生成：{n} 个令牌，每个 {ms:.1f} 毫秒",
        "budget_generated_untimed": "已生成：{n} 个令牌",
        # 视频问答
        "no_video": "请先上传或录制一段视频。",
        "not_video": "无法读取该视频文件（支持 MP4、WebM、MOV、MKV、AVI 等）。",
        "video_no_picture": "该文件只有声音、没有画面；请使用音频问答。",
        "video_frame_too_big": "视频每帧为 {w}×{h} 像素，上限为 {limit:,} 像素。请先缩小分辨率。",
        "video_broken": "无法解码该视频（文件损坏、不完整，或编码格式不受支持）。请重新编码，例如转为 H.264 MP4。",
        "video_trimmed": "视频长 {seconds:.0f} 秒，只使用了前 {used:.0f} 秒（{frames} 帧）。",
        "video_no_sound": "该视频没有音轨：回答只依据画面。",
        "bad_video_value": "视频必须是上传到本应用的文件（gradio_client 中用 handle_file()）或公开的 http(s) 链接。",
        # 状态页（components/status_panel.py）
        "status_models": "模型", "status_loaded": "已加载", "status_not_loaded": "尚未加载（首次使用时加载）",
        "status_tasks": "任务", "status_params": "参数量", "status_load": "加载用时", "status_device": "设备",
        "status_gpu": "GPU", "status_cpu": "仅 CPU", "status_threads": "CPU 线程", "status_memory": "内存",
        "status_rss": "本进程", "status_cuda": "已用显存", "status_peak": "峰值", "status_of": "共",
        "status_queue": "队列", "status_running": "运行中", "status_waiting": "等待中", "status_limit": "同时运行",
        "status_max": "最多排队", "status_drawing": "绘图", "status_versions": "版本",
        "status_engine": "由 OpenAI 兼容推理服务提供，模型名",
        "status_speech": "语音部分（talker + token2wav）",
        "status_speech_off": "语音部分尚未加载（首次朗读时加载）",
        # --- quantize (issue 31): begin ---
        "status_weights": "权重",
        "status_quantized": "量化",
        # --- quantize (issue 31): end ---
        # 页首（components/header.py）
        "header_models": "模型", "header_caption": "图片描述", "header_vqa": "图片问答", "header_audio": "音频",
        "header_video": "视频", "header_image": "文生图", "header_on": "运行于", "header_cpu": "CPU",
        "header_engine": "OpenAI 兼容推理服务",
        "header_tiny": "⚠️ **随机权重的微型模型**（`--tiny`）：回答是乱码，生成的图片是噪点。"
                       "它们只用来检查各部分能否运行；去掉 `--tiny` 即使用真实模型。",
        # --- chatux (issue 26) ---
        "budget_patches": "图片被切成小方块（图块）；每 {merge}×{merge} 个图块合成模型读入的一个令牌（行 × 列）。",
        # --- search (issue 29): begin ---
        "no_query": "请输入要搜索的内容。",
        "no_labels": "请至少输入一条文本（每行一条）。",
        "too_many_labels": "共 {count} 个标签或文本，上限为 {limit}。",
        "gallery_too_big": "向图库添加了 {count} 个文件，上限为 {limit}。",
        "gallery_cut": "图库中的文件超过 {limit:,} 个，只搜索了前 {limit:,} 个。",
        "bad_top_k": "结果数量必须在 1 到 {limit} 之间。",
        "search_not_media": "图库只接受图片（png、jpg、webp、bmp、gif）和视频（mp4、webm、mov、mkv、avi）。",
        "header_search": "检索",
        # --- search (issue 29): end ---
        # --- compare (issue 30, parts 2 and 3): begin ---
        "ablation_image": "图片",
        "ablation_audio": "音频",
        "ablation_video": "视频",
        "ablation_video_sound": "视频的声音",
        "ablation_video_frames": "视频的画面（保留声音）",
        "ablation_history": "之前的对话",
        "ablation_nothing": "这个回答除了问题之外没有可去掉的输入。",
        "ablation_absent": "上一个回答没有这项输入；可以去掉的有：{choices}。",
        "ablation_pick": "选择要去掉的输入，然后重新回答。",
        "ablation_score": "**原回答的可能性**（教师强制，{tokens} 个令牌）：有{what}时每个令牌 {with_mean:.3f}"
                          "（合计 {with_total:.2f}），去掉后 {without_mean:.3f}（{without_total:.2f}）："
                          "每个令牌变化 **{change:+.3f}**（{verdict}）。两个回答有 {similarity:.0%} 的词相同；"
                          "提示从 {before:,} 个令牌变为 {after:,} 个。",
        "ablation_score_empty": "原回答为空：没有可评分的内容。",
        "ablation_helped": "{what}让它更可能",
        "ablation_hindered": "去掉{what}后它更可能",
        "header_compare": "模型对比",
        "compare_stats": "{tokens} 个令牌，用时 {seconds:.2f} 秒（每秒 {rate:.1f} 个，首个令牌 {first:.2f} 秒）",
        "compare_off": "没有配置第二个模型（--compare-model）。",
        "compare_too_big": "--compare-model {model} 与其他模型一起放不下：需要 {need:.1f} GB（{parts}），"
                           "{where} 可用 {have:.1f} GB；不加它需要 {alone:.1f} GB。请换一个更小的模型，"
                           "或不使用 --compare-model。",
        # --- compare (issue 30, parts 2 and 3): end ---
    },
}


def message(key: str, lang: str = "en", **params) -> str:
    """The sentence for `key` in `lang` (falls back to English); a Text among the parameters in `lang` too."""
    table = MESSAGES.get(lang, MESSAGES["en"])
    params = {name: value.text(lang) if isinstance(value, Text) else value for name, value in params.items()}
    return table.get(key, MESSAGES["en"].get(key, key)).format(**params)


@dataclass(frozen=True)
class Text:
    """A message key and its parameters, written in the reader's language only when shown: a part of a message
    that pipelines build before anyone knows the language (a load failure's reason)."""

    key: str
    params: dict = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        return message(self.key, lang, **self.params)


def label(key: str, lang: str) -> str:
    """A page label as plain text in `lang`, for what the browser leaves alone (example captions)."""
    return LABELS["zh" if lang == "zh" else "en"][key]


# --- talk (issue 28): the Talk tab and a spoken question in the chats. Kept in one block, merged into the tables
# above, so that this feature's strings sit apart from the others'.
TALK_LABELS = {
    "en": {
        "tab_talk": "Talk",
        "talk_intro": "Turn the microphone on and speak: each time you pause, the model answers, aloud. "
                      "With the camera on it also sees what you show. Speak while it answers to cut in.",
        "talk_mic": "Microphone (listening while it records)",
        "talk_camera": "Camera (optional: the model sees its latest picture)",
        "talk_speak": "Answer aloud",
        "talk_status_idle": "Press the microphone's record button and speak.",
        "spoken_question": "Or ask aloud",
    },
    "zh": {
        "tab_talk": "语音对话",
        "talk_intro": "打开麦克风说话：每当你停顿，模型就会用语音回答。打开摄像头时它还能看到你展示的东西。"
                      "它回答时你开口说话即可打断。",
        "talk_mic": "麦克风（录音时一直在听）",
        "talk_camera": "摄像头（可选：模型看到最新的画面）",
        "talk_speak": "语音回答",
        "talk_status_idle": "按下麦克风的录音按钮，然后说话。",
        "spoken_question": "或者直接说出问题",
    },
}
TALK_MESSAGES = {
    "en": {
        "talk_listening": "Listening…",
        "talk_heard": "Heard you ({seconds:.1f} s); answering…",
        "talk_answering": "Answering… (speak to cut in)",
        "talk_cut_in": "You cut in: listening…",
        "talk_idle": "Nothing heard for {seconds:.0f} s: is the microphone muted, or too far away?",
        "talk_monologue": "You spoke for more than {limit:.0f} s without a pause: the model hears the first "
                          "{limit:.0f} s.",
        "talk_taken": "Listening moved to another tab of this browser; press record here to listen here again.",
        "talk_no_model": "This app's audio model cannot hear ({model}): the Talk tab needs one that does.",
        "talk_user_spoke": "🎤 {seconds:.1f} s",
        "cannot_hear": "The model {model} cannot hear a spoken question: type the question instead.",
    },
    "zh": {
        "talk_listening": "正在听…",
        "talk_heard": "听到了（{seconds:.1f} 秒），正在回答…",
        "talk_answering": "正在回答…（开口说话即可打断）",
        "talk_cut_in": "你打断了回答：正在听…",
        "talk_idle": "已经 {seconds:.0f} 秒没有听到声音：麦克风是否静音或离得太远？",
        "talk_monologue": "你连续说了超过 {limit:.0f} 秒没有停顿：模型只听前 {limit:.0f} 秒。",
        "talk_taken": "本浏览器的另一个标签页开始收听，这里已停止；在这里按录音即可重新收听。",
        "talk_no_model": "本应用的音频模型无法听音频（{model}）：语音对话需要能听音频的模型。",
        "talk_user_spoke": "🎤 {seconds:.1f} 秒",
        "cannot_hear": "模型 {model} 听不了语音提问：请把问题打出来。",
    },
}
for _lang in LANGS:
    LABELS[_lang].update(TALK_LABELS[_lang])
    MESSAGES[_lang].update(TALK_MESSAGES[_lang])
