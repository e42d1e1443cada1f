// React: identify once per signed-in user, after render, in the browser.
import { useEffect } from 'react'
import { getFlameup } from './flameup-client'

interface User {
  id: string
  email: string
  name: string
  plan: string
}

export function IdentifyUser({ user }: { user: User | null }) {
  useEffect(() => {
    if (!user) return
    // Unchanged traits are not resent (24 h), so running on every mount costs nothing.
    getFlameup()
      ?.identify(user.id, { email: user.email, first_name: user.name, plan: user.plan })
      .catch((error) => console.warn('flameup', error))
  }, [user?.id, user?.email, user?.plan])
  return null
}
