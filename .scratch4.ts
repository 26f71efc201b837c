import { cleanUrl } from './src/privacy/index.js';
const u = 'https://app.example.com/dashboard/reports?utm_source=newsletter&utm_medium=email';
const N = 1000000;
let t = process.hrtime.bigint(); for (let i = 0; i < N; i++) cleanUrl(u, {keepClickIds:false}); console.log('cleanUrl', Number(process.hrtime.bigint() - t) / N | 0);
