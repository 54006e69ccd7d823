/** graphile-worker's producer side (`makeWorkerUtils`, then `addJob`), resolved from bench/peers/node_modules. */
export { makeWorkerUtils, runMigrations } from 'graphile-worker'
