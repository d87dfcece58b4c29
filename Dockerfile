# The oscar-batch runtime image: the plan and aggregate steps of generated workflows.
#   docker build -t ghcr.io/grycap/oscar-batch:0.1.0 .
# The tag must equal the package version (generator/__init__.py): workflows reference it.
FROM python:3.12.7-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY generator generator
COPY templates templates
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12.7-slim-bookworm
LABEL org.opencontainers.image.source="https://github.com/grycap/oscar-batch" \
      org.opencontainers.image.version="0.1.0"
# matplotlib (the run's page) finds its font cache here, built once now, instead of building
# it in every aggregate pod (the user has no home to keep it in)
ENV MPLCONFIGDIR=/opt/oscar-batch/matplotlib
COPY docker/constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --constraint /tmp/constraints.txt /wheels/*.whl \
 && rm -rf /wheels /tmp/constraints.txt \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin oscar-batch \
 && python -c "import matplotlib.font_manager" \
 && chown -R 10001 "$MPLCONFIGDIR"
USER 10001
ENTRYPOINT ["oscar-batch"]
CMD ["--help"]
