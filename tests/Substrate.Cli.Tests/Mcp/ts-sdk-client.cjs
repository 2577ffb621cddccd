// An MCP client made with the TypeScript MCP SDK (@modelcontextprotocol/sdk, a second implementation beside the C# one
// substrate uses): starts a server over stdio, lists its tools, calls a few and prints what it got as one JSON line.
//
// Usage: node ts-sdk-client.cjs <sdkPrefix> <command> [args...]
//   sdkPrefix: the npm prefix scripts/fetch-test-references.sh installed the SDK into (<cache>/mcp-sdk)
'use strict';
const path = require('path');

const [prefix, command, ...args] = process.argv.slice(2);
const load = (p) => require(require.resolve(`@modelcontextprotocol/sdk/${p}`, { paths: [path.join(prefix, 'node_modules')] }));
const { Client } = load('client/index.js');
const { StdioClientTransport } = load('client/stdio.js');

const call = (client, name, args) =>
  client.callTool({ name, arguments: args }).then((result) => ({ result }), (e) => ({ error: e.message }));

(async () => {
  const client = new Client({ name: 'ts-sdk-client', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args, stderr: 'ignore' }));
  const tools = (await client.listTools()).tools.map((t) => ({ name: t.name, required: t.inputSchema.required ?? [] }));
  const out = {
    server: client.getServerVersion().name,
    tools: tools.sort((a, b) => a.name.localeCompare(b.name)),
    embed: await call(client, 'embed', { text: 'the answer' }),
    generate: await call(client, 'generate', { prompt: '6 * 7', max_tokens: 4 }),
    missingArgument: await call(client, 'embed', {}),
    unknownTool: await call(client, 'no_such_tool', {}),
  };
  console.log(JSON.stringify(out));
  await client.close();
})().catch((e) => {
  console.error(`client failed: ${e.stack}`);
  process.exit(1);
});
