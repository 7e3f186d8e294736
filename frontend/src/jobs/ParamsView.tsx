/** A job's parameters as "name: value" lines (nested values as compact JSON). */
export function ParamsView({ params }: { params: unknown }) {
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    return <pre className="code">{JSON.stringify(params, null, 2)}</pre>;
  }
  const entries = Object.entries(params as Record<string, unknown>);
  if (entries.length === 0) return <p className="muted">No parameters (all defaults).</p>;
  return (
    <dl className="facts facts--params">
      {entries.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>
            <code>{typeof value === 'string' ? value : JSON.stringify(value)}</code>
          </dd>
        </div>
      ))}
    </dl>
  );
}
