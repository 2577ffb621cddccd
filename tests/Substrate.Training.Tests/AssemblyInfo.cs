// Model initialization draws from libtorch's global generator and the thread count is global:
// test classes running side by side would interleave their draws. Run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
