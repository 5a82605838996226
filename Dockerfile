# The image behind docker-compose.yml's web, worker and beat services.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements/base.txt requirements/base.txt
RUN pip install --no-cache-dir -r requirements/base.txt
COPY . .
# Settings require both URLs; collectstatic connects to neither.
RUN DEBUG=true DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput
RUN useradd --create-home prosperas
USER prosperas
EXPOSE 8000
CMD ["gunicorn", "prosperas.wsgi", "-k", "gthread", "-w", "2", "--threads", "8", "-b", "0.0.0.0:8000"]
