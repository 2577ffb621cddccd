using Substrate.Cli;

return await CommandLine.RunAsync(args);
