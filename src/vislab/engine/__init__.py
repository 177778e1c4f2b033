"""The collection engine: one job (predict, zero-shot, embed, code) over every item of a source,
in shards that survive being killed.

    sources.py  what to read: a folder walked in order, or a manifest with its metadata
    plan.py     `_plan.json`: the items once listed, their order and the source's fingerprint
    shards.py   the output folder: whole shards only, `_progress.json`, `_skipped.csv`, `_SUCCESS`
    loop.py     one shard through a model: decoding in workers, bad images skipped, progress
    team.py     the processes of a job (devices, nodes, srun, torchrun), placed by Lightning
    run.py      plan, resume, every missing shard (claimed, where processes share the job),
                and the one-file output

A task gives the engine a `Job` (loop.py): how to read one item, how to turn a batch into rows,
and how to make the shard's table from those rows.
"""
