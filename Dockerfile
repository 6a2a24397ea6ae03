# Self-hosting, or a Hugging Face Space with `sdk: docker` (app_port 7860, non-root user 1000 as Spaces require).
#   docker build -t multimodal-demo .
#   docker run --gpus all -p 7860:7860 multimodal-demo
FROM python:3.12.12-slim

# ffmpeg: audio uploads in any format (gradio converts them to wav).
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN useradd -m -u 1000 user
USER user
# MALLOC_MMAP_THRESHOLD_: buffers of 4 MB or more go back to the system when freed (server/memory.py).
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MMDEMO_HOST=0.0.0.0 \
    MMDEMO_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    MALLOC_MMAP_THRESHOLD_=4194304
WORKDIR $HOME/app

COPY --chown=user requirements.txt .
RUN pip install --no-cache-dir --user -r requirements.txt

COPY --chown=user . .
EXPOSE 7860
CMD ["python", "app.py"]
