// An MCP server made with the TypeScript MCP SDK's low-level Server, for `substrate agent --tools mcp:…`: reverse(text)
// answers, refuse() returns an error result, crash() exits mid-call (the server dies), anything else is a protocol error.
//
// Usage: node ts-sdk-server.cjs <sdkPrefix>   (see ts-sdk-client.cjs)
'use strict';
const path = require('path');

const load = (p) => require(require.resolve(`@modelcontextprotocol/sdk/${p}`, { paths: [path.join(process.argv[2], 'node_modules')] }));
const { Server } = load('server/index.js');
const { StdioServerTransport } = load('server/stdio.js');
const { ListToolsRequestSchema, CallToolRequestSchema } = load('types.js');

const none = { type: 'object', properties: {} };
const tools = [
  { name: 'reverse', description: 'Reverses a text.', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
  { name: 'refuse', description: 'Always fails.', inputSchema: none },
  { name: 'crash', description: 'Stops the server.', inputSchema: none },
];

const server = new Server({ name: 'ts-sdk-server', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
server.setRequestHandler(CallToolRequestSchema, async ({ params: { name, arguments: args } }) => {
  switch (name) {
    case 'reverse': return { content: [{ type: 'text', text: [...String(args.text)].reverse().join('') }] };
    case 'refuse': return { content: [{ type: 'text', text: 'no, never' }], isError: true };
    case 'crash': process.exit(3);
    default: throw new Error(`no tool named ${name}`);
  }
});
server.connect(new StdioServerTransport());
