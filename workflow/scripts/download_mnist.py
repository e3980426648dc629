"""Download the canonical MNIST files into resources/mnist/ and verify their checksums."""

from pathlib import Path

from bayes_sgd.data.datasets import download_mnist
from bayes_sgd.logging_setup import script_logger

log = script_logger(snakemake)
directory = Path(snakemake.output[0]).parent
log.info("downloading MNIST into %s (set data.mnist_dir to use a local copy instead)", directory)
download_mnist(directory)
log.info("downloaded and verified %d files", len(snakemake.output))
