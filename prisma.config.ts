// Prisma CLI configuration, used only to author migrations (`npm run db:diff`).
// The CLI's native schema engine cannot be downloaded on offline machines, so the
// bundled wasm engine runs against a throw-away PGlite database instead.
import { PGlite } from '@electric-sql/pglite';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { PrismaConfig } from 'prisma';

process.env.PRISMA_SCHEMA_URL ??= 'postgresql://unused/unused';

export default {
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  async adapter() {
    return new PrismaPGlite(new PGlite());
  },
} satisfies PrismaConfig;
