# Stage 3 (paper Section 4, Appendices B-C): the 784-800-10 MLP trained by SGD with momentum,
# one job per configuration, and the gradient noise at initialisation (Figure 9).
#
# train_mlp is generic over its wildcards: any rule can ask for a run through
# run_path(dataset, n_train, learning_rate, momentum, batch_size, l2, steps, seed) (common.smk),
# and a configuration requested by several figures or sweeps is one job. The settings that are
# not in the path (network width, initialisation, pixel scale, evaluation schedule, subset seed)
# come from the mlp: section through params:, so editing one reruns every run it changes.

NUMBER = r"[0-9][0-9.e+-]*"  # a number as fmt() writes it: 1, 0.1, 1e-06, 1e+06
MLP = config["mlp"]

if MLP["figure_9"]["batch_size"] > MLP["figure_9"]["n_train"]:
    raise WorkflowError(
        f"Invalid configuration: mlp.figure_9.batch_size: {MLP['figure_9']['batch_size']} is larger "
        f"than the training set ({MLP['figure_9']['n_train']} images)"
    )


# The seeded N-image training subset, shared by every run seed of that N.
TRAINING_SUBSET = "results/subsets/{{dataset}}/N{{n_train}}_seed{subset_seed}.parquet".format(subset_seed=MLP["subset_seed"])


rule train_mlp:
    input:
        dataset="results/data/{dataset}.parquet",
        subset=TRAINING_SUBSET,
        code=code("train_mlp"),
    output:
        curve="results/runs/{dataset}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}.parquet",
        # the final parameters and momentum buffer (bayes_sgd.sgd.weights_table)
        weights="results/weights/{dataset}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}.parquet",
    params:
        hidden_units=MLP["hidden_units"],
        weight_init=MLP["weight_init"],
        bias_init=MLP["bias_init"],
        pixel_scale=MLP["pixel_scale"],
        eval_points=MLP["eval_points"],
        eval_chunk=MLP["eval_chunk"],
        subset_seed=MLP["subset_seed"],
    log:
        "logs/train_mlp/{dataset}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}.log",
    benchmark:
        "benchmarks/train_mlp/{dataset}/N{n_train}/eps{learning_rate}_m{momentum}_B{batch_size}_l2{l2}_T{steps}_s{seed}.tsv"
    conda:
        CONDA_ENV
    wildcard_constraints:
        dataset="mnist5k|mnist|fashion_mnist",
        n_train=r"\d+",
        learning_rate=NUMBER,
        momentum=NUMBER,
        batch_size=r"\d+",
        l2=NUMBER,
        steps=r"\d+",
        seed=r"\d+",
    threads: 1
    resources:
        # scaled from N, B and steps by a cost model, doubled on a retry (common.smk)
        mem_mb=train_mlp_mem_mb,
        runtime=train_mlp_runtime,
    script:
        "../scripts/train_mlp.py"


rule compute_gradient_noise:
    input:
        dataset="results/data/{dataset}.parquet",
        subset=TRAINING_SUBSET,
        code=code("compute_gradient_noise"),
    output:
        samples="results/gradient_noise/{dataset}/N{n_train}_B{batch_size}_s{seed}_samples.parquet",
        summary="results/gradient_noise/{dataset}/N{n_train}_B{batch_size}_s{seed}_summary.parquet",
    params:
        n_batches=MLP["figure_9"]["n_batches"],
        hidden_unit=MLP["figure_9"]["hidden_unit"],
        output_class=MLP["figure_9"]["output_class"],
        hidden_units=MLP["hidden_units"],
        weight_init=MLP["weight_init"],
        bias_init=MLP["bias_init"],
        pixel_scale=MLP["pixel_scale"],
        subset_seed=MLP["subset_seed"],
    log:
        "logs/compute_gradient_noise/{dataset}/N{n_train}_B{batch_size}_s{seed}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        dataset="mnist5k|mnist|fashion_mnist",
        n_train=r"\d+",
        batch_size=r"\d+",
        seed=r"\d+",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    script:
        "../scripts/compute_gradient_noise.py"
