# Stage 3 (paper Section 4, Appendices B-C): the 784-800-10 MLP trained by SGD with momentum,
# one job per run (with the JAX backend, one job for the seeds of a configuration; below), and the
# gradient noise at initialisation (Figure 9).
#
# train_mlp is generic over its wildcards: any rule can ask for a run through
# bayes_sgd.sweeps.run_path(dataset, Run(...)), and a configuration requested by several figures,
# sweeps or protocol variants is one job. The protocol folder ({protocol}: "paper" or the protocol
# options that differ from the stated ones, bayes_sgd.variants.protocol_id) names the run's
# protocol options, which the job reads back from it. The settings that are in no path (network
# width, bias init, pixel scale, evaluation schedule, subset seed) come from the mlp: section
# through params:, so editing one reruns every run it changes.
# mlp.checkpoint_seconds and mlp.jax_compilation_cache change no result and are resources instead.

# With mlp.backend jax and mlp.group_seeds (common.smk, GROUP_SEEDS), the seeds of one configuration
# train in one job instead, train_mlp_seeds, and train_mlp only publishes the tables that job wrote
# for its seed (a hard link, else a copy): the same paths, so every rule downstream is unchanged.
# train_mlp keeps the trainer's inputs and params, so an edit that changes a run reruns its
# publication and so its group.

from bayes_sgd.training.threads import training_threads


# The settings of a run that are in no path (see above), for the trainer and for the publication.
TRAIN_PARAMS = dict(
    # the protocol options, from the run's protocol folder (common.smk)
    protocol=protocol_params,
    hidden_units=MLP["hidden_units"],
    bias_init=MLP["bias_init"],
    pixel_scale=MLP["pixel_scale"],
    eval_points=MLP["eval_points"],
    eval_chunk=MLP["eval_chunk"],
    subset_seed=MLP["subset_seed"],
    backend=MLP["backend"],
)
# Resources that change no result: editing them must not rerun finished runs.
TRAIN_RESOURCES = dict(
    # how often the run saves its state (0: no checkpoints)
    checkpoint_seconds=MLP["checkpoint_seconds"],
    # JAX's persistent compilation cache ("" off; bayes_sgd.training.jax_cache)
    jax_compilation_cache=MLP["jax_compilation_cache"],
    # one GPU with the JAX backend (jobs do not preallocate its memory, so several may share one:
    # the scripts), none with NumPy
    gpu=1 if MLP["backend"] == "jax" else 0,
)


if GROUP_SEEDS:

    rule train_mlp_seeds:
        input:
            dataset="results/data/{dataset}.parquet",
            subset=TRAINING_SUBSET,
            code=code("train_mlp_seeds"),
        output:
            # s<seed>_curve.parquet and s<seed>_weights.parquet of every seed of the group
            group=directory(f"results/run_groups/{GROUP_WILDCARDS}"),
        params:
            **TRAIN_PARAMS,
            # each seed's saved state while the group trains (not outputs, see train_mlp below)
            checkpoints=group_checkpoints,
        log:
            f"logs/train_mlp_seeds/{GROUP_WILDCARDS}.log",
        benchmark:
            f"benchmarks/train_mlp_seeds/{GROUP_WILDCARDS}.tsv"
        conda:
            CONDA_ENV
        wildcard_constraints:
            **GROUP_CONSTRAINTS,
        threads: lambda wildcards: training_threads(int(wildcards.batch_size), MLP["max_threads"])
        resources:
            mem_mb=train_group_mem_mb,
            runtime=train_group_runtime,
            **TRAIN_RESOURCES,
        script:
            "../scripts/train_mlp_seeds.py"

    rule train_mlp:
        input:
            group=seed_group_folder,
            dataset="results/data/{dataset}.parquet",
            subset=TRAINING_SUBSET,
            code=code("train_mlp_seeds"),
        output:
            curve=f"results/runs/{RUN_WILDCARDS}.parquet",
            weights=f"results/weights/{RUN_WILDCARDS}.parquet",
        params:
            **TRAIN_PARAMS,
        log:
            f"logs/train_mlp/{RUN_WILDCARDS}.log",
        conda:
            CONDA_ENV
        wildcard_constraints:
            **RUN_CONSTRAINTS,
        localrule: True
        shell:
            """
            publish() {{ ln -f "$1" "$2" 2>/dev/null || cp "$1" "$2"; }}
            group={input.group:q}
            publish "$group/s{wildcards.seed}_weights.parquet" {output.weights:q}
            publish "$group/s{wildcards.seed}_curve.parquet" {output.curve:q}
            echo "seed {wildcards.seed} trained in group $group by rule train_mlp_seeds (log: logs/train_mlp_seeds/${{group#results/run_groups/}}.log)" > {log:q}
            """

else:

    rule train_mlp:
        input:
            dataset="results/data/{dataset}.parquet",
            subset=TRAINING_SUBSET,
            code=code("train_mlp"),
        output:
            curve=f"results/runs/{RUN_WILDCARDS}.parquet",
            # the final parameters and momentum buffer (bayes_sgd.training.run_tables.weights_table)
            weights=f"results/weights/{RUN_WILDCARDS}.parquet",
        params:
            **TRAIN_PARAMS,
            # the run's saved state while it trains (not an output: Snakemake must not delete it
            # when a killed job is rerun); deleted when the run has written its outputs
            checkpoint=f"results/checkpoints/{RUN_WILDCARDS}.npz",
        log:
            f"logs/train_mlp/{RUN_WILDCARDS}.log",
        benchmark:
            f"benchmarks/train_mlp/{RUN_WILDCARDS}.tsv"
        conda:
            CONDA_ENV
        wildcard_constraints:
            **RUN_CONSTRAINTS,
        # BLAS threads follow the batch size: 1 up to B = 1,999, then one per 1,000 examples of a
        # batch, at most mlp.max_threads (bayes_sgd.training.threads.training_threads); --cores caps it too
        threads: lambda wildcards: training_threads(int(wildcards.batch_size), MLP["max_threads"])
        resources:
            # scaled from N, B and steps by a cost model, doubled on a retry (common.smk)
            mem_mb=train_mlp_mem_mb,
            runtime=train_mlp_runtime,
            **TRAIN_RESOURCES,
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
        init_scale=MLP["init_scale"],
        input_range=MLP["input_range"],
        bias_init=MLP["bias_init"],
        pixel_scale=MLP["pixel_scale"],
        subset_seed=MLP["subset_seed"],
    log:
        "logs/compute_gradient_noise/{dataset}/N{n_train}_B{batch_size}_s{seed}.log",
    conda:
        CONDA_ENV
    wildcard_constraints:
        dataset=DATASET_PATTERN,
        n_train=r"\d+",
        batch_size=r"\d+",
        seed=r"\d+",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    script:
        "../scripts/compute_gradient_noise.py"
