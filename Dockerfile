# The persona-kg Streamlit explorer (docker compose service "app"); the store URI comes from PERSONA_STORE.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /srv/persona-kg

# Optional: a PyTorch wheel index with CPU-only builds keeps the image gigabytes smaller, e.g.
#   docker compose build --build-arg TORCH_INDEX_URL=<your CPU wheel index>
ARG TORCH_INDEX_URL=""
RUN if [ -n "$TORCH_INDEX_URL" ]; then pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" torch; fi

COPY . .
RUN pip install --no-cache-dir '.[app]'

EXPOSE 8501
CMD ["streamlit", "run", "persona/app/explorer.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
