# The image behind docker-compose.yml's web, worker and beat services.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements/base.txt requirements/base.txt
RUN pip install --no-cache-dir -r requirements/base.txt
COPY . .
RUN DEBUG=true python manage.py collectstatic --noinput
RUN useradd --create-home prosperas
USER prosperas
EXPOSE 8000
CMD ["gunicorn", "prosperas.wsgi", "-k", "gthread", "-w", "2", "--threads", "8", "-b", "0.0.0.0:8000"]
