// Tests seed the global torch generator (manual_seed) before building models: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
