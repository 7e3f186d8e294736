import { NavLink, Outlet, useNavigate } from 'react-router';
import { useAuth } from '../api/auth-context';
import { endpoints } from '../config';
import { ConnectionBanner, ConnectionDot } from './ConnectionBanner';

/** Header, navigation, connection banner and the page. */
export function Layout() {
  const { viewer, logout } = useAuth();
  const navigate = useNavigate();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <div className="app-header__inner">
          <NavLink to="/jobs" className="brand">
            taskqueue
          </NavLink>
          <nav aria-label="Main">
            <ul className="nav">
              <li>
                <NavLink to="/jobs">Jobs</NavLink>
              </li>
              <li>
                <NavLink to="/submit">Submit</NavLink>
              </li>
              <li>
                <NavLink to="/workers">Workers</NavLink>
              </li>
              {viewer?.isStaff && (
                <li>
                  <a href={endpoints.admin}>Admin</a>
                </li>
              )}
            </ul>
          </nav>
          <div className="user">
            <ConnectionDot />
            {viewer && <span className="user__name">{viewer.username}</span>}
            <button
              type="button"
              className="button button--quiet"
              onClick={async () => {
                await logout();
                navigate('/login', { replace: true });
              }}
            >
              Sign out
            </button>
          </div>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" tabIndex={-1} className="page">
        <Outlet />
      </main>
    </>
  );
}
