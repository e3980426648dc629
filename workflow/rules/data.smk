# Stage 1: datasets as Parquet tables, and the seeded subsets and label tasks drawn from them.


# The one rule without code inputs: its files are checked against fixed SHA-256 sums
# (bayes_sgd.data.datasets), so no edit of the package can change them.
rule download_mnist:
    output:
        expand("resources/mnist/{name}", name=MNIST_SHA256),
    log:
        "logs/download_mnist/download_mnist.log",
    conda:
        CONDA_ENV
    localrule: True
    retries: 2
    script:
        "../scripts/download_mnist.py"


rule prepare_dataset:
    input:
        unpack(dataset_sources),
        code=code("prepare_dataset"),
    output:
        table="results/data/{dataset}.parquet",
    params:
        settings=dataset_params,
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        dataset=DATASET_PATTERN,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/prepare_dataset.py"


rule draw_binary_task:
    input:
        dataset="results/data/{dataset}.parquet",
        code=code("draw_binary_task"),
    output:
        task="results/tasks/{dataset}/binary.parquet",
    params:
        classes=config["logistic"]["classes"],
        train_per_class=config["logistic"]["train_per_class"],
        test_source=config["logistic"]["test_source"],
        test_per_class=config["logistic"]["test_per_class"],
        seed=config["logistic"]["seed"],
    log:
        "logs/draw_binary_task/{dataset}.log",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/draw_binary_task.py"


rule draw_training_subset:
    input:
        dataset="results/data/{dataset}.parquet",
        code=code("draw_training_subset"),
    output:
        subset="results/subsets/{dataset}/N{n_train}_seed{subset_seed}.parquet",
    log:
        "logs/draw_training_subset/{dataset}_N{n_train}_seed{subset_seed}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        n_train=r"\d+",
        subset_seed=r"\d+",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/draw_training_subset.py"


DATA_TARGETS = [
    f"results/data/{DATASET}.parquet",
    f"results/tasks/{DATASET}/binary.parquet",
]
