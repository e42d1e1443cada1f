'use client'
// app/identify-user.tsx: a client component; render <IdentifyUser userId={...} email={...} /> in
// app/layout.tsx with the user your server session knows. It renders nothing.
import { useEffect } from 'react'
import { getFlameup } from '../flameup-client'

export function IdentifyUser({ userId, email }: { userId?: string; email?: string }) {
  useEffect(() => {
    if (userId) getFlameup()?.identify(userId, { email }).catch(console.warn)
  }, [userId, email])
  return null
}
