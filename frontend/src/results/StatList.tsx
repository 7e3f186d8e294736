/** Label/value pairs (with an optional note) as a description list of tiles. */
export function StatList({ items }: { items: [label: string, value: string, note?: string | null][] }) {
  return (
    <dl className="stats">
      {items.map(([label, value, note]) => (
        <div key={label} className="stats__item">
          <dt>{label}</dt>
          <dd>
            {value}
            {note && <span className="stats__note">{note}</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}
