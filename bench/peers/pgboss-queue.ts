/** pg-boss's producer side, resolved from bench/peers/node_modules (see bench/peers/package.json). */
import PgBoss from 'pg-boss'

export { PgBoss }
