// Recipes train models and seed the global torch generator: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
