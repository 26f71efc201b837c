// Baseline for the ingest benchmark: a bare node:http server that only decodes and parses the
// same bodies Sillage receives (form `data=` → base64 → JSON) and answers `1`. No storage.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const data = decodeURIComponent(body.slice(body.indexOf('data=') + 5));
    const records = JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as unknown;
    const n = Array.isArray(records) ? records.length : 1;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(n > 0 ? '1' : '0');
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `listening ${typeof address === 'object' && address ? address.port : port}\n`,
  );
});
