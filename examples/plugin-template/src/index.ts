export * from './poisson-surprise.js';
export * from './zeek-conn.js';
