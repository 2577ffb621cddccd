// One tiny model and server per test class; the scheduler owns the model, so classes need not run in parallel.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
