// Training tests seed and draw from libtorch's global generator (weights, dropout); run them one at a time so a
// resumed run can be compared bit for bit with an uninterrupted one.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
